"""Class names of a model against those of a dataset: matched by name, case-insensitive,
with man/woman read as male/female, or by an explicit map (--class_map=man=male,...)."""
SYNONYMS = {'man': 'male', 'men': 'male', 'woman': 'female', 'women': 'female'}


def mapping(classes, model_classes, class_map=None):
    """{dataset class index: model class index} for the dataset classes that have a match."""
    explicit = dict(item.split('=', 1) for item in class_map or [])
    lower = {name.lower(): i for i, name in enumerate(model_classes)}
    found = {}
    for i, name in enumerate(classes):
        target = explicit.get(name, name).lower()
        target = target if target in lower else SYNONYMS.get(target, target)
        if target in lower:
            found[i] = lower[target]
    return found


def describe(classes, model_classes, found):
    return ', '.join(f'{classes[i]} -> {model_classes[j]}' for i, j in sorted(found.items()))
