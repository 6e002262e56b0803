"""Accuracy per group (race, age bucket, class), so that no group is left behind.

Works on whatever attributes the TFRecords carry (`attr/race`, `attr/age`, ...):
race values are named by data.sources.RACES (UTKFace's, then FairFace's), ages are grouped in decades,
any other attribute by its value. Missing values (-1) are left out. When the gender is
known (the label of a male/female model, or an `attr/gender`), race and age are also
crossed with it ('race x gender': 'Black female', ...): a gap that only the women of one
group carry is invisible in either table alone.
"""
import numpy as np

from data.records import ATTRIBUTE_MISSING
from data.sources import RACES

AGE_EDGES = (10, 20, 30, 40, 50, 60, 70)    # 0-9, 10-19, ..., 60-69, 70+


def age_group(age):
    for low, high in zip((0,) + AGE_EDGES, AGE_EDGES):
        if age < high:
            return f'{low}-{high - 1}'
    return f'{AGE_EDGES[-1]}+'


def _group_names(attribute, values):
    if attribute == 'race':
        return [RACES[v] if 0 <= v < len(RACES) else str(v) for v in values]
    if attribute == 'age':
        return [age_group(v) for v in values]
    return [str(v) for v in values]


def _order(attribute, names):
    if attribute == 'race':
        return [r for r in RACES if r in names] + sorted(set(names) - set(RACES))
    if attribute == 'age':
        return sorted(names, key=lambda n: int(n.split('-')[0].rstrip('+')))
    return sorted(names)


GENDERS = ('male', 'female')     # attr/gender's 0 and 1, as data.sources stores them
CROSSED = ('race', 'age')


def _row(correct, confidence, inside):
    row = {'accuracy': float(correct[inside].mean()), 'count': int(inside.sum())}
    if confidence is not None:
        # Expected calibration error of the group alone: is "90%" right 90% of the time
        # for these faces too, not only on average?
        row['ece'] = group_ece(confidence[inside], correct[inside])
    return row


def group_ece(confidence, correct, bins=15):
    """Expected calibration error of one group's answers: `confidence` shown, `correct` or not."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gaps = [abs(confidence[index == b].mean() - correct[index == b].mean()) * (index == b).sum()
            for b in range(bins) if (index == b).any()]
    return float(sum(gaps) / len(confidence))


def _gender_names(labels, classes, attributes):
    """Per example 'male'/'female' (or '' when unknown), or None when nothing says it."""
    if list(classes) == list(GENDERS):
        return np.array(GENDERS)[labels]
    if 'gender' in attributes:
        values = np.asarray(attributes['gender'])
        return np.array([GENDERS[v] if 0 <= v < 2 else '' for v in values])
    return None


def attributes_of(out):
    """{attribute name: per-example values} of eval answers `out` (their 'attr/...' keys)."""
    return {k[len('attr/'):]: v for k, v in out.items() if k.startswith('attr/')}


def group_report(labels, predictions, classes, attributes, probabilities=None):
    """{'class': {...}, 'race': {...}, 'age': {...}, 'race x gender': {...}, ...}: per group
    {'accuracy', 'count'} (and 'ece' when the `probabilities` are given).

    `attributes` maps attribute names to per-example int arrays; 'gender' is left
    out when it is the label itself (the per-class rows say the same)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    correct = labels == predictions
    confidence = None if probabilities is None else np.asarray(probabilities).max(-1)
    report = {'class': {}}
    for i, name in enumerate(classes):
        inside = labels == i
        if inside.any():
            report['class'][name] = _row(correct, confidence, inside)
    gender = _gender_names(labels, classes, attributes)
    named = {}
    for attribute in sorted(attributes):
        values = np.asarray(attributes[attribute])
        names = np.array([''] * len(values), dtype=object)
        known = values != ATTRIBUTE_MISSING
        names[known] = _group_names(attribute, values[known])
        named[attribute] = names
        if not (attribute == 'gender' and list(classes) == list(GENDERS)):
            _add_rows(report, attribute, names, _order(attribute, set(names[known])),
                      correct, confidence)
    for attribute in CROSSED if gender is not None else ():
        if attribute in named:
            names = np.array([f'{a} {g}' if a and g else '' for a, g in
                              zip(named[attribute], gender)], dtype=object)
            order = [f'{a} {g}' for a in report.get(attribute, {}) for g in GENDERS]
            _add_rows(report, f'{attribute} x gender', names, order, correct, confidence)
    return report


def error_sides(labels, predictions, classes, attributes):
    """Of a male/female model, over all faces and per race: the share of women called men
    and of men called women ({} for other classes). Each is 100% less the accuracy of one
    race x gender cell; side by side they show which way a group's errors fall."""
    if list(classes) != list(GENDERS):
        return {}
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    rows = {'all': _sides(labels, predictions, np.ones(len(labels), bool))}
    if 'race' in attributes:
        values = np.asarray(attributes['race'])
        known = values != ATTRIBUTE_MISSING
        names = np.array([''] * len(values), dtype=object)
        names[known] = _group_names('race', values[known])
        for race in _order('race', set(names[known])):
            rows[race] = _sides(labels, predictions, names == race)
    return rows


def _sides(labels, predictions, inside):
    women, men = inside & (labels == 1), inside & (labels == 0)
    return {'women': int(women.sum()), 'men': int(men.sum()),
            'women_called_men': float(np.mean(predictions[women] == 0)) if women.any() else None,
            'men_called_women': float(np.mean(predictions[men] == 1)) if men.any() else None}


def format_sides(sides):
    """The error_sides table, one line per group."""
    if not sides:
        return ''
    width = max(8, *(len(n) for n in sides)) + 2
    lines = [f'{"errors by side":<{width}}{"women called men":>18}{"men called women":>18}']
    for name, row in sides.items():
        cells = [f'{row[k] * 100:>17.2f}%' if row[k] is not None else f'{"-":>18}'
                 for k in ('women_called_men', 'men_called_women')]
        lines.append(f'{name:<{width}}' + ''.join(cells))
    return '\n'.join(lines)


def _add_rows(report, key, names, order, correct, confidence):
    rows = {name: _row(correct, confidence, names == name) for name in order
            if (names == name).any()}
    if rows:
        report[key] = rows


def worst_group(report, attribute='race', min_count=20):
    """(name, accuracy) of the weakest group with at least `min_count` examples."""
    rows = [(n, r['accuracy']) for n, r in report.get(attribute, {}).items()
            if r['count'] >= min_count]
    return min(rows, key=lambda r: r[1]) if rows else None


def format_groups(report):
    lines = []
    for attribute, rows in report.items():
        width = max(8, *(len(n) for n in rows)) + 2
        has_ece = all('ece' in r for r in rows.values())
        lines += ['', f'{"by " + attribute:<{width}}{"accuracy":>10}{"count":>8}'
                  + (f'{"ECE":>8}' if has_ece else '')]
        for name, row in rows.items():
            lines.append(f'{name:<{width}}{row["accuracy"] * 100:>9.2f}%{row["count"]:>8}'
                         + (f'{row["ece"] * 100:>7.2f}%' if has_ece else ''))
    return '\n'.join(lines).lstrip('\n')


def bar_chart(report, path, overall=None):
    """PNG: one panel per grouping, a bar per group with its accuracy and count; the
    groupings crossed with gender on a row of their own."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(a, rows) for a, rows in report.items() if rows]
    lines = [[p for p in panels if ' x ' not in p[0]], [p for p in panels if ' x ' in p[0]]]
    lines = [line for line in lines if line]
    width = max(sum(max(2, len(rows)) for _, rows in line) for line in lines)
    fig = plt.figure(figsize=(1.0 + 0.6 * width, 4.2 * len(lines)))
    for subfig, line in zip(np.atleast_1d(fig.subfigures(len(lines), 1)), lines):
        axes = subfig.subplots(1, len(line), squeeze=False, gridspec_kw={
            'width_ratios': [max(2, len(rows)) for _, rows in line]})[0]
        for ax, (attribute, rows) in zip(axes, line):
            _panel(ax, attribute, rows, overall)
        axes[0].set_ylabel('accuracy, %')
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _panel(ax, attribute, rows, overall):
    names = list(rows)
    accuracy = [rows[n]['accuracy'] * 100 for n in names]
    bars = ax.bar(range(len(names)), accuracy, color='#4c8bd6')
    for bar, n in zip(bars, names):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.5,
                f'{rows[n]["accuracy"] * 100:.1f}\nn={rows[n]["count"]}',
                ha='center', va='bottom', fontsize=7)
    if overall is not None:
        ax.axhline(overall * 100, color='black', linestyle='--', linewidth=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha='right', fontsize=8)
    ax.set_title(f'by {attribute}')
    ax.set_ylim(min(50, min(accuracy) - 5), 105)
