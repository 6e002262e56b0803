"""Classification metrics from predicted and true labels, as a dict and a printable table."""
import numpy as np


def classification_report(labels, predictions, classes):
    """Accuracy, per-class precision/recall/count and the confusion matrix (rows = truth)."""
    n = len(classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (np.asarray(labels), np.asarray(predictions)), 1)
    total = int(confusion.sum())
    per_class = {}
    for i, name in enumerate(classes):
        predicted, actual = confusion[:, i].sum(), confusion[i, :].sum()
        per_class[name] = {
            'precision': float(confusion[i, i] / predicted) if predicted else 0.0,
            'recall': float(confusion[i, i] / actual) if actual else 0.0,
            'count': int(actual),
        }
    return {'accuracy': float(np.trace(confusion) / total) if total else 0.0,
            'count': total, 'per_class': per_class, 'classes': list(classes),
            'confusion_matrix': confusion.tolist()}


def format_report(report):
    classes = report['classes']
    width = max(9, *(len(c) for c in classes)) + 2
    lines = [f'accuracy {report["accuracy"] * 100:.2f}% on {report["count"]} images', '',
             f'{"class":<{width}}{"precision":>10}{"recall":>10}{"count":>8}']
    for name in classes:
        row = report['per_class'][name]
        lines.append(f'{name:<{width}}{row["precision"] * 100:>9.2f}%{row["recall"] * 100:>9.2f}%'
                     f'{row["count"]:>8}')
    lines += ['', 'confusion (rows: true, columns: predicted)',
              ' ' * width + ''.join(f'{c[:9]:>10}' for c in classes)]
    for name, row in zip(classes, report['confusion_matrix']):
        lines.append(f'{name:<{width}}' + ''.join(f'{v:>10}' for v in row))
    return '\n'.join(lines)
