"""The peer of the speed benchmark: nn_gender written as a plain Keras 3 model.

Same layers, sizes, dropout, optimizer and loss as networks/nn_gender.py, trained
with model.fit on the same tf.data input (same images, same augmentation), in the same
precision.
"""
import keras


def nn_gender_keras(crop=80, channels=1, num_classes=2, keep_prob=0.7, precision='fp32'):
    """The peer at the platform's precision: Keras' mixed_bfloat16 policy for 'bf16' (as
    ours, variables float32, compute bfloat16)."""
    keras.mixed_precision.set_global_policy('mixed_bfloat16' if precision == 'bf16'
                                            else 'float32')
    layers = keras.layers
    drop = 1.0 - keep_prob
    model = keras.Sequential([
        keras.Input((crop, crop, channels)),
        layers.Conv2D(32, 8, padding='same', activation='relu'),
        layers.AveragePooling2D(2, padding='same'),
        layers.Conv2D(64, 5, padding='same', activation='relu'),
        layers.MaxPooling2D(2, padding='same'),
        layers.Conv2D(128, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(2, padding='same'),
        layers.Flatten(),
        layers.Dense(1024, activation='relu'), layers.Dropout(drop),
        layers.Dense(512, activation='relu'), layers.Dropout(drop),
        layers.Dense(128, activation='relu'), layers.Dropout(drop),
        layers.Dense(num_classes),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    return model


class StepTimer(keras.callbacks.Callback):
    """Wall-clock time at the end of every training batch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        import time
        self.times.append(time.perf_counter())
