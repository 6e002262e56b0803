"""--precision: float32, or bfloat16 mixed precision where the CPU computes it fast.

Mixed precision is TensorFlow's own graph rewrite (grappler's
auto_mixed_precision_onednn_bfloat16): convolutions, matrix products and their
gradients run in bfloat16 on oneDNN; variables, checkpoints, the optimizer's update,
the loss, softmax and batch-norm statistics stay float32 (tests/test_precision.py
reads the rewritten graph to hold it so). A checkpoint is the same file whatever the
precision, so a model trained in one answers in the other.

    choice = precision.decide('auto', gpus=0)    # Choice('bf16', 'this CPU has AMX')
    config = precision.session_config(choice.name, inter_op_threads=0, intra_op_threads=0)
"""
import dataclasses
import os

CHOICES = ('auto', 'bf16', 'fp32')
# The CPU's flags as /proc/cpuinfo (and lscpu) list them; the variable stands in for the
# machine's own answer (tests, or checking what another machine would decide).
FLAGS_VARIABLE = 'FACECNN_CPU_FLAGS'


class Unsupported(ValueError):
    """--precision=bf16 on a device where it would be slower than float32."""

    def __init__(self, reason):
        super().__init__(f'--precision=bf16: {reason}; use --precision=auto or fp32')
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Choice:
    name: str       # 'bf16' | 'fp32'
    why: str        # what decided it, said on a run's first line

    @property
    def line(self):
        return f'precision {self.name}: {self.why}'


def cpu_flags():
    """The set of the CPU's feature flags (empty where /proc/cpuinfo is not to be read)."""
    given = os.environ.get(FLAGS_VARIABLE)
    if given is not None:
        return set(given.split())
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_unit(flags):
    """The CPU's bfloat16 unit by name, None when it has none."""
    if 'amx_bf16' in flags:
        return 'AMX'
    if 'avx512_bf16' in flags:
        return 'AVX-512 BF16'
    return None


def decide(asked, gpus=0, cluster=False, net=None):
    """The Choice for --precision=`asked` on this machine. The network runs on the GPU when
    there is one, where this rewrite does not act, and a ps/worker cluster runs graphs
    through TensorFlow's distributed runtime, which has no bfloat16 kernel for the fused
    convolutions the rewrite makes: float32 for both. `net` (a registered network): auto
    keeps float32 for a net its defaults say is slower in bfloat16."""
    if asked == 'fp32':
        return Choice('fp32', 'asked (--precision=fp32)')
    unit = bf16_unit(cpu_flags())
    if gpus:
        reason = ('the network runs on the GPU, where this platform computes in float32 '
                  '(its bfloat16 is the CPU\'s oneDNN rewrite)')
    elif cluster:
        reason = ('a ps/worker cluster computes in float32 (TensorFlow\'s distributed runtime '
                  'has no bfloat16 kernels for the fused convolutions)')
    elif unit is None:
        reason = ('this CPU has neither AMX nor AVX-512 BF16 (lscpu), so bfloat16 would be '
                  'emulated, slower than float32')
    elif asked == 'auto' and net is not None and not net.defaults.bf16:
        return Choice('fp32', f'{net.name} runs slower in bfloat16 than in float32 '
                      '(docs/measurements.md); --precision=bf16 asks for it anyway')
    else:
        return Choice('bf16', f'this CPU has {unit}' + (' (--precision=bf16)'
                                                        if asked == 'bf16' else ''))
    if asked == 'bf16':
        raise Unsupported(reason)
    return Choice('fp32', reason)


def session_config(name, inter_op_threads=0, intra_op_threads=0):
    """The session settings of a run: its threads, and the bfloat16 rewrite for 'bf16'."""
    import tensorflow as tf
    from tensorflow.core.protobuf import rewriter_config_pb2
    if name not in ('bf16', 'fp32'):
        raise ValueError(f'precision {name!r}: decide() makes it bf16 or fp32 first')
    config = tf.compat.v1.ConfigProto(allow_soft_placement=True,
                                      inter_op_parallelism_threads=inter_op_threads,
                                      intra_op_parallelism_threads=intra_op_threads)
    if name == 'bf16':
        config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = \
            rewriter_config_pb2.RewriterConfig.ON
    return config
