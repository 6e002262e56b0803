"""What the data says: its classes (and whether another dataset's match the model's), the
data a training folder keeps learning from, and the geometry of its faces."""
from core.config.values import same_path
from core.store.errors import ConfigError


def classes_from_data(cfg, mode):
    """The classes of --data_dir when no model records them; another dataset's classes
    must match the model's."""
    if cfg.data_dir and mode.reads_data and cfg.classes and not mode.trains and \
            not same_path(cfg.data_dir, cfg.trained_on):
        check_classes_of_other_data(cfg)
    if cfg.data_dir and mode.reads_data and not cfg.classes:
        from data.records import read_meta
        try:
            meta = read_meta(cfg.data_dir)
        except FileNotFoundError as e:
            raise ConfigError(str(e)) from None
        cfg.classes = meta['classes']
        if cfg.num_classes not in (None, meta['num_classes']):
            raise ConfigError(f'--num_classes={cfg.num_classes} but {cfg.data_dir} has '
                              f'{meta["num_classes"]} classes ({", ".join(meta["classes"])})')
        cfg.num_classes = meta['num_classes']


def check_same_data(cfg, recorded, mode):
    """A training folder goes on learning from the data it started on: another --data_dir
    is refused (or, with --init_from, the old run is moved aside as with --fresh)."""
    theirs = recorded.get('data_dir')
    if not mode.trains or not theirs or not cfg.data_dir or same_path(theirs, cfg.data_dir):
        return
    if cfg.init_from:
        print(f'{cfg.train_dir} holds a model trained on {theirs}; --init_from starts a new '
              'run on ' + cfg.data_dir + ', so the old one is moved aside')
        cfg.fresh = True
        return
    raise ConfigError(f'{cfg.train_dir} holds a model trained on {theirs}, not on '
                      f'{cfg.data_dir}: use another --train_dir, --fresh to start over, or '
                      f'--init_from={cfg.train_dir} with a new --train_dir to fine-tune it')


def check_classes_of_other_data(cfg):
    """Evaluating a model on a dataset with other class names (man/woman for a model of
    male/female) is right only when each class matches the model's class of its index."""
    from core import classes
    from data.records import read_meta
    try:
        data_classes = read_meta(cfg.data_dir)['classes']
    except FileNotFoundError as e:
        raise ConfigError(str(e)) from None
    if data_classes == cfg.classes:
        return
    found = classes.mapping(data_classes, cfg.classes, cfg.class_map)
    if len(data_classes) != len(cfg.classes) or any(found.get(i) != i
                                                    for i in range(len(data_classes))):
        raise ConfigError(f'{cfg.data_dir} has the classes {", ".join(data_classes)}, the model '
                          f'{", ".join(cfg.classes)}: they do not match one to one in this order'
                          ' (--class_map=theirs=ours,... says how they match)')
    print(f'classes of {cfg.data_dir} read as the model\'s: '
          + classes.describe(data_classes, cfg.classes, found))


def face_geometry(cfg):
    """Faces found in photos are aligned at the size and margin of the training faces."""
    meta = {}
    if cfg.data_dir and (cfg.face_size is None or cfg.margin is None):
        from data.records import read_meta
        try:
            meta = read_meta(cfg.data_dir)
        except FileNotFoundError:
            pass                                 # data moved or gone: fall back below
    typical = meta.get('typical_size')
    if cfg.face_size is None:
        square = typical and typical[0] == typical[1]
        cfg.face_size = typical[0] if square else cfg.input_size[0]
    if cfg.margin is None:
        cfg.margin = meta.get('faces', {}).get('margin', 0.0)
