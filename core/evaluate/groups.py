"""Accuracy per group (race, age bucket, class), so that no group is left behind.

Works on whatever attributes the TFRecords carry (`attr/race`, `attr/age`, ...):
race values are named by data.sources.RACES (UTKFace's, then FairFace's), ages are grouped in decades,
any other attribute by its value. Missing values (-1) are left out.
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


def group_report(labels, predictions, classes, attributes):
    """{'class': {...}, 'race': {...}, 'age': {...}}: per group {'accuracy', 'count'}.

    `attributes` maps attribute names to per-example int arrays; 'gender' is left
    out when it is the label itself (the per-class rows say the same)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    correct = labels == predictions
    report = {'class': {}}
    for i, name in enumerate(classes):
        inside = labels == i
        if inside.any():
            report['class'][name] = {'accuracy': float(correct[inside].mean()),
                                     'count': int(inside.sum())}
    for attribute in sorted(attributes):
        if attribute == 'gender' and list(classes) == ['male', 'female']:
            continue
        values = np.asarray(attributes[attribute])
        known = values != ATTRIBUTE_MISSING
        if not known.any():
            continue
        names = np.array(_group_names(attribute, values[known]))
        rows = {}
        for name in _order(attribute, set(names.tolist())):
            inside = names == name
            rows[name] = {'accuracy': float(correct[known][inside].mean()),
                          'count': int(inside.sum())}
        report[attribute] = rows
    return report


def worst_group(report, attribute='race', min_count=20):
    """(name, accuracy) of the weakest group with at least `min_count` examples."""
    rows = [(n, r['accuracy']) for n, r in report.get(attribute, {}).items()
            if r['count'] >= min_count]
    return min(rows, key=lambda r: r[1]) if rows else None


def format_groups(report):
    lines = []
    for attribute, rows in report.items():
        width = max(8, *(len(n) for n in rows)) + 2
        lines += ['', f'{"by " + attribute:<{width}}{"accuracy":>10}{"count":>8}']
        for name, row in rows.items():
            lines.append(f'{name:<{width}}{row["accuracy"] * 100:>9.2f}%{row["count"]:>8}')
    return '\n'.join(lines).lstrip('\n')


def bar_chart(report, path, overall=None):
    """PNG: one panel per grouping, a bar per group with its accuracy and count."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(a, rows) for a, rows in report.items() if rows]
    widths = [max(2, len(rows)) for _, rows in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + 0.75 * sum(widths), 4.2),
                             gridspec_kw={'width_ratios': widths}, squeeze=False)
    for ax, (attribute, rows) in zip(axes[0], panels):
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
    axes[0][0].set_ylabel('accuracy, %')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
