"""The one SavedModel writer: the export and the int8 converter's input both use it."""
import tensorflow as tf

v1 = tf.compat.v1


def save(sess, export_dir, inputs, outputs, clear_devices=False):
    """Writes `sess`'s graph as a SavedModel with one 'serving_default' signature."""
    builder = v1.saved_model.Builder(export_dir)
    signature = v1.saved_model.predict_signature_def(inputs=inputs, outputs=outputs)
    builder.add_meta_graph_and_variables(
        sess, [v1.saved_model.tag_constants.SERVING], clear_devices=clear_devices,
        signature_def_map={'serving_default': signature}, strip_default_attrs=True)
    builder.save()
