"""Accuracy per race, age bucket and class."""
import numpy as np

from core.evaluate import groups


def test_age_groups_are_decades_up_to_70_plus():
    assert [groups.age_group(a) for a in (0, 9, 10, 29, 69, 70, 116)] == [
        '0-9', '0-9', '10-19', '20-29', '60-69', '70+', '70+']


def test_group_report_counts_and_accuracies():
    labels = np.array([0, 0, 1, 1, 1, 0])
    predictions = np.array([0, 1, 1, 1, 0, 0])
    attributes = {'race': np.array([0, 0, 2, 2, 1, -1]), 'age': np.array([5, 25, 25, 71, 8, 40]),
                  'gender': labels}
    report = groups.group_report(labels, predictions, ['male', 'female'], attributes)
    assert report['class'] == {'male': {'accuracy': 2 / 3, 'count': 3},
                               'female': {'accuracy': 2 / 3, 'count': 3}}
    assert list(report['race']) == ['White', 'Black', 'Asian']     # UTKFace order; -1 left out
    assert report['race']['White'] == {'accuracy': 0.5, 'count': 2}
    assert report['race']['Asian'] == {'accuracy': 1.0, 'count': 2}
    assert list(report['age']) == ['0-9', '20-29', '40-49', '70+']
    assert report['age']['0-9'] == {'accuracy': 0.5, 'count': 2}
    assert 'gender' not in report                   # the label itself: the class rows say it
    assert groups.worst_group(report, 'race', min_count=2) == ('White', 0.5)
    assert 'by race' in groups.format_groups(report)


def test_error_sides_say_which_way_each_races_errors_fall():
    labels = np.array([0, 0, 1, 1, 1, 0, 1])
    predictions = np.array([0, 1, 0, 0, 1, 0, 1])
    attributes = {'race': np.array([0, 0, 0, 2, 2, 1, -1])}
    sides = groups.error_sides(labels, predictions, ['male', 'female'], attributes)
    assert list(sides) == ['all', 'White', 'Black', 'Asian']
    assert sides['all'] == {'women': 4, 'men': 3, 'women_called_men': 0.5,
                            'men_called_women': 1 / 3}
    assert sides['White'] == {'women': 1, 'men': 2, 'women_called_men': 1.0,
                              'men_called_women': 0.5}
    assert sides['Asian']['men_called_women'] is None and sides['Black']['women'] == 0
    assert '100.00%' in groups.format_sides(sides)
    assert groups.error_sides(labels, predictions, ['cat', 'dog'], attributes) == {}


def test_bar_chart_is_written(tmp_path):
    report = groups.group_report([0, 1, 1], [0, 1, 0], ['a', 'b'], {'race': [0, 1, 3]})
    groups.bar_chart(report, tmp_path / 'g.png', overall=2 / 3)
    assert (tmp_path / 'g.png').stat().st_size > 5000
