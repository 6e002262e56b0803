"""TFRecord files of tf.train.Example records, without TensorFlow: what preparing photos
and judging a model from its lite/ files write and read, byte for byte what TensorFlow
writes and reads (tests/test_records.py holds them to it).

A record is framed as TensorFlow frames it: the payload's length (uint64, little-endian),
the masked CRC-32C of those 8 bytes, the payload, the masked CRC-32C of the payload. The
Example message is built from tensorflow/core/example's schema with protobuf, in a pool
of its own (TensorFlow's, once imported, holds the same names).
"""
import functools
import struct

import google_crc32c


class Damaged(ValueError):
    """A file that is not whole TFRecords: cut short, or a checksum that does not match."""


def _masked_crc(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xa282ead8) & 0xffffffff


def frame(payload):
    length = struct.pack('<Q', len(payload))
    return (length + struct.pack('<I', _masked_crc(length)) + payload
            + struct.pack('<I', _masked_crc(payload)))


class Writer:
    """`with Writer(path) as w: w.write(payload)`: records appended to a new file."""

    def __init__(self, path):
        self._file = open(path, 'wb')

    def write(self, payload):
        self._file.write(frame(payload))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def read(path):
    """Every record's payload in the file at `path`, checked; Damaged where it is not whole."""
    with open(path, 'rb') as f:
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12 or struct.unpack('<I', head[8:])[0] != _masked_crc(head[:8]):
                raise Damaged(f'a record\'s length is cut short or corrupted at byte {f.tell()}')
            (length,) = struct.unpack('<Q', head[:8])
            payload, tail = f.read(length), f.read(4)
            if len(payload) < length or len(tail) < 4:
                raise Damaged(f'the file ends inside a record (byte {f.tell()})')
            if struct.unpack('<I', tail)[0] != _masked_crc(payload):
                raise Damaged(f'a record\'s checksum does not match (byte {f.tell()})')
            yield payload


@functools.cache
def _example_class():
    """tensorflow/core/example/{feature,example}.proto: Example{Features{map<string,
    Feature>}}, a Feature one of a bytes, float or int64 list. Built on first use: protobuf's
    descriptors cost ~80 ms to import, and predict reaches this module without reading a
    record."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    T = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name='facecnn_example.proto',
                                               package='facecnn', syntax='proto3')

    def message(name, *fields, nested=()):
        m = proto.message_type.add(name=name)
        m.nested_type.extend(nested)
        for number, (field, kind, label, type_name) in enumerate(fields, 1):
            m.field.add(name=field, number=number, type=kind, label=label, type_name=type_name)
        return m

    repeated, optional = T.LABEL_REPEATED, T.LABEL_OPTIONAL
    message('BytesList', ('value', T.TYPE_BYTES, repeated, None))
    message('FloatList', ('value', T.TYPE_FLOAT, repeated, None))
    message('Int64List', ('value', T.TYPE_INT64, repeated, None))
    feature = message('Feature', *[(name, T.TYPE_MESSAGE, optional, f'.facecnn.{kind}')
                                   for name, kind in (('bytes_list', 'BytesList'),
                                                      ('float_list', 'FloatList'),
                                                      ('int64_list', 'Int64List'))])
    feature.oneof_decl.add(name='kind')
    for field in feature.field:
        field.oneof_index = 0
    entry = descriptor_pb2.DescriptorProto(name='FeatureEntry')
    entry.options.map_entry = True
    entry.field.add(name='key', number=1, type=T.TYPE_STRING, label=optional)
    entry.field.add(name='value', number=2, type=T.TYPE_MESSAGE, label=optional,
                    type_name='.facecnn.Feature')
    message('Features', ('feature', T.TYPE_MESSAGE, repeated, '.facecnn.Features.FeatureEntry'),
            nested=[entry])
    message('Example', ('features', T.TYPE_MESSAGE, optional, '.facecnn.Features'))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName('facecnn.Example'))


def example(features):
    """The serialized Example of {name: bytes, int, or a list of them}."""
    ex = _example_class()()
    for name, value in features.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        feature = ex.features.feature[name]
        if values and isinstance(values[0], bytes):
            feature.bytes_list.value.extend(values)
        else:
            feature.int64_list.value.extend(int(v) for v in values)
    return ex.SerializeToString()


def parse(payload):
    """{name: its list of values} of a serialized Example."""
    ex = _example_class().FromString(payload)
    out = {}
    for name, feature in ex.features.feature.items():
        kind = feature.WhichOneof('kind')
        out[name] = list(getattr(feature, kind).value) if kind else []
    return out
