"""Registry of networks, in the style of research/slim's nets_factory.

A network is one module in this package, named as the network, that calls `register` on
a function
    net_fn(images, num_classes, is_training, keep_prob) -> (logits, end_points)
together with its `Defaults`. Dropping a new module in here is all it takes:
a network's module is imported when it is first asked for. A generative pair registers its
discriminator as `net_fn` (its logits: a realness score per class) and its
    generator(noise, labels, num_classes, is_training) -> (images in [-1, 1], end_points)
as `generator=`; the platform then trains the pair (core/gan.py).

    import networks
    net = networks.get('nn_gender')
    logits, end_points = net.fn(images, num_classes=2, is_training=True)
"""
import dataclasses
import importlib
import pkgutil


@dataclasses.dataclass(frozen=True)
class Defaults:
    """A network's native settings; any of them can be overridden by flags."""
    input_size: tuple          # (height, width) the image is resized to
    crop_size: tuple           # (height, width) the network sees; == input_size for no crop
    channels: int              # 1 grayscale, 3 colour
    batch_size: int
    optimizer: str             # adam | momentum | rmsprop | sgd
    learning_rate: float
    keep_prob: float           # dropout keep probability in training
    epochs: int = 15
    weight_decay: float = 0.0
    net_options: dict = dataclasses.field(default_factory=dict)   # keyword options of net_fn
    # What replaces the above when TensorFlow sees no GPU: a net whose native size a
    # 2-core CPU cannot train to anything within an hour gets a size it can.
    cpu: dict = None
    # False for a net that runs slower in bfloat16 than in float32 (depthwise convolutions,
    # measured in docs/measurements.md): --precision=auto keeps it in float32.
    bf16: bool = True

    def for_device(self, gpu):
        """These defaults as they apply on a machine with (gpu=True) or without a GPU."""
        if gpu or not self.cpu:
            return self
        return dataclasses.replace(self, cpu=None, **self.cpu)


@dataclasses.dataclass(frozen=True)
class Network:
    name: str
    fn: object
    defaults: Defaults
    generator: object = None     # set for a generator/discriminator pair

    @property
    def is_gan(self):
        return self.generator is not None


_REGISTRY = {}
# Modules of this package that build parts of networks and register none.
HELPERS = ('layers',)


def register(name, defaults, generator=None):
    """Decorator: registers `fn` under `name` (with its `generator` for a GAN pair)."""
    def wrap(fn):
        if name in _REGISTRY:
            raise ValueError(f'network {name!r} registered twice')
        _REGISTRY[name] = Network(name, fn, defaults, generator)
        return fn
    return wrap


def names():
    """Every network's name: its module's, read from the package without importing one
    (a module imports TensorFlow; a flag's check or --help needs none)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if not m.name.startswith('_') and m.name not in HELPERS)


def unknown(name):
    return f'unknown network {name!r}; valid names: {", ".join(names())}'


def get(name):
    if name not in names():
        raise KeyError(unknown(name))
    if name not in _REGISTRY:
        importlib.import_module(f'{__name__}.{name}')
    return _REGISTRY[name]
