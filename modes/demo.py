"""A web demo in the browser (Gradio): upload, webcam, feature maps, about the model, and
with --generator_dir a "Make a face" tab (faces from a trained generator pair, each judged
by the served classifier, downloaded to the visitor's own browser).

    python runner.py --mode=demo                                     # the released model
    python runner.py --mode=demo --net=nn_gender --port=8000 --saved_model=checkpoints/nn_gender/export/4290
    python runner.py --mode=demo --train_dir=checkpoints/mine --generator_dir=checkpoints/dcgan

It serves the best checkpoint of the net (or an exported SavedModel) through
the same face finding, alignment and preprocessing as `--mode=predict`.
Uploads are checked before decoding (size limit, not an image, decompression
bomb) and answered on the page with a one-line reason; the server stays up.
Gradio's uploads and outputs go to a temporary folder removed at exit.
"""
import atexit
import base64
import binascii
import os
import shutil
import tempfile
import time

import numpy as np

from common import jsonfile
from data.images import BadImage, load_rgb

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'shared', 'datasets',
                        'portraits')


PHOTO_SIDE = 800       # px: an annotated photo is shown at most this long, whole
FACE_SIDE = 200        # px: each face crop beside it
MADE_FACES = 8         # faces a click on "Make" shows
# Pixels a request may decode: a phone's photo is 12-50 MP, and a small PNG can claim many
# more, each costing memory and seconds, several at once from one page.
DEMO_MEGAPIXELS = 25
SENT_SUFFIX = '.sent'  # a snapshot sent as a data URL, decoded to a file of ours


def fit(rgb, side, enlarge=False):
    """The image scaled so that its longer side is `side` (never enlarged unless asked)."""
    from PIL import Image
    scale = side / max(rgb.shape[:2])
    if scale >= 1 and not enlarge:
        return rgb
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))


def check_upload(path, limit_mb):
    """The decoded photo, or BadImage with the reason (the file's size, then its pixels,
    each before decoding)."""
    size = os.path.getsize(path)
    if size > limit_mb * 2**20:
        raise BadImage(f'too large: {size / 2**20:.1f} MB (limit {limit_mb:g} MB)')
    return load_rgb(path, max_megapixels=DEMO_MEGAPIXELS)


class CheckpointBackend:
    """The chosen checkpoint: calibrated probabilities, and the layers of a face when it
    answers through TensorFlow (its TFLite files carry none)."""

    def __init__(self, cfg):
        from core.serve.inference import answering_model
        self.net = answering_model(cfg)
        self.source = getattr(self.net, 'source', self.net.checkpoint)     # lite: its file
        self.detector = self.net.detector

    def probabilities(self, face):
        return self.net.probabilities_of(face)

    def layers(self, face):
        return self.net.layers_of(face) if hasattr(self.net, 'layers_of') else None


class SavedModelBackend:
    """An exported SavedModel: probabilities only (it carries no feature maps)."""

    def __init__(self, export_dir):
        import tensorflow as tf
        self.tf = tf
        self.serve = tf.saved_model.load(export_dir).signatures['serving_default']
        self.source = export_dir
        self.detector = None         # data.faces' own

    def probabilities(self, face):
        return self.serve(images=self.tf.constant(face[None]))['probabilities'].numpy()[0]

    def layers(self, face):
        return None


class Demo:
    """Everything the page does, without the page: testable on its own."""

    def __init__(self, cfg):
        self.cfg = cfg
        if cfg.saved_model:
            # config.resolve took classes, sizes and face framing from this model.json.
            self.info = jsonfile.read(os.path.join(cfg.saved_model, 'model.json'))
            self.backend = SavedModelBackend(cfg.saved_model)
        else:
            self.info = None
            self.backend = CheckpointBackend(cfg)
        # Warm up now (load MTCNN, trace its functions, first session run), not on the
        # first upload: it cost the first photo about a second.
        face = np.full((cfg.face_size or 100, cfg.face_size or 100, 3), 128, np.uint8)
        self.backend.probabilities(face)
        if cfg.detect == 'on':
            from data import faces
            # Traces the stages; a faceless image needs no grey second look.
            (self.backend.detector or faces.get_detector()).detect_as_is(np.full((480, 640, 3), 128, np.uint8))
        self.maker = None
        if cfg.generator_dir:
            from core import config
            from core.serve.generate import FaceGenerator
            self.maker = FaceGenerator(config.resolve(
                {'mode': 'generate', 'train_dir': cfg.generator_dir,
                 'truncation': cfg.truncation}, explicit={'truncation'}))

    def check_file(self, path):
        return check_upload(path, self.cfg.max_upload_mb)

    def analyse(self, rgb):
        """(annotated photo, rows, faces) for one decoded photo."""
        from core.serve.inference import draw_boxes, label_faces
        found = label_faces(rgb, self.cfg, self.backend.probabilities, self.backend.detector)
        rows = [[face.number, face.text, face.box_text] for face in found]
        labels = [(face.box, f'{face.number}: {face.short}') for face in found]
        return draw_boxes(rgb, labels), rows, [face.face for face in found]

    def photos(self, paths):
        """Upload tab: [(annotated photo, caption)], table rows, a message in markdown."""
        gallery, table, notes = [], [], []
        for path in paths or []:
            name = os.path.basename(path)
            try:
                rgb = self.check_file(path)
            except BadImage as e:
                notes.append(f'**{name}**: {e}')
                continue
            start = time.perf_counter()
            annotated, rows, faces = self.analyse(rgb)
            ms = (time.perf_counter() - start) * 1000
            if not rows:
                notes.append(f'**{name}**: no face found')
            # The whole photo, small enough to fit the view, then each face with its label.
            gallery.append((fit(annotated, PHOTO_SIDE), f'{name}: {len(rows)} face(s)'))
            gallery += [(fit(face, FACE_SIDE, enlarge=True), f'{name} face {row[0]}: {row[1]}')
                        for face, row in zip(faces, rows)]
            table += [[name, *row] for row in rows]
            notes.append(f'{name}: {len(rows)} face(s) in {ms:.0f} ms')
        return gallery, table, '\n\n'.join(notes) or 'Upload one or more photos.'

    def snapshot(self, payload):
        """Webcam tab: one frame, as Gradio's undecoded payload (a file, or a data: URL from a
        client) or a path; checked like an upload before decoding, because the endpoint
        takes any image a client sends, not only a camera's."""
        if not payload:
            return None, [], 'Take a snapshot first.'
        path = None
        try:
            path = self.snapshot_file(payload)
            rgb = self.check_file(path)
        except BadImage as e:
            return None, [], f'**snapshot**: {e}'
        finally:
            if path and path.endswith(SENT_SUFFIX):
                os.remove(path)             # a client's data URL, written here: not kept
        start = time.perf_counter()
        annotated, rows, _ = self.analyse(rgb)
        ms = (time.perf_counter() - start) * 1000
        note = f'{len(rows)} face(s) in {ms:.0f} ms' if rows else '**no face found**'
        return annotated, [['webcam', *row] for row in rows], note

    def snapshot_file(self, payload):
        """The path of a snapshot's bytes. Gradio's own preprocessing decodes the image
        before our checks and answers a refused one with a bare "Could not preprocess", so
        the webcam event takes the payload as sent (preprocess=False)."""
        if isinstance(payload, str):
            return payload
        if payload.get('path'):
            return payload['path']
        url = payload.get('url') or ''
        if not url.startswith('data:'):
            raise BadImage('no image in the request')
        encoded = url.partition(',')[2]
        if len(encoded) * 3 / 4 > self.cfg.max_upload_mb * 2**20:
            raise BadImage(f'too large: {len(encoded) * 3 / 4 / 2**20:.1f} MB '
                           f'(limit {self.cfg.max_upload_mb:g} MB)')
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise BadImage('not an image: the data URL is not base64') from None
        handle, path = tempfile.mkstemp(suffix=SENT_SUFFIX, dir=os.environ.get('GRADIO_TEMP_DIR'))
        with os.fdopen(handle, 'wb') as f:
            f.write(data)
        return path

    def make_faces(self, label, seed, folder):
        """Make-a-face tab: ([(face, what the classifier says)], the grid PNG written in
        `folder` for the download button, message). No seed: a random one, shown."""
        from core import classes, gan
        from core.serve.generate import label_index
        from core.serve.inference import LabelledFace
        from PIL import Image
        seed = gan.random_seed() if seed is None or seed == '' else int(seed)
        made = self.maker.make(label_index(self.maker.cfg, label), MADE_FACES, seed)
        # The classifier's own index of that class (its names may be man/woman).
        wanted = classes.mapping([label], self.cfg.classes).get(0)
        gallery, agree = [], 0
        for i, face in enumerate(made, start=1):
            judged = LabelledFace(i, (0, 0, *face.shape[1::-1]), face,
                                  self.backend.probabilities(face), self.cfg.classes,
                                  self.cfg.uncertain_below)
            agree += judged.best == wanted
            gallery.append((fit(face, FACE_SIDE, enlarge=True), f'{i}: {judged.text}'))
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f'{label}-seed{seed}.png')
        Image.fromarray(gan.tile(made, MADE_FACES // 2)).save(path)
        return gallery, path, (f'{MADE_FACES} {label} faces from seed {seed}: the classifier '
                               f'calls {agree} of them {label}')

    def layer_names(self):
        net = getattr(self.backend, 'net', None)
        if not hasattr(net, 'layers'):       # a SavedModel or TFLite files: no layers
            return []
        names = list(net.layers[1])
        return [n for n in names if net.layers[1][n].shape.rank == 3]

    def feature_maps(self, path, layer):
        """Feature-maps tab: (the face as the net sees it, the maps of `layer`, message)."""
        from core.evaluate.visualize import feature_grid
        if not path:
            return None, None, 'Upload a photo.'
        if not self.layer_names():
            return None, None, ('Feature maps need the checkpoint in TensorFlow (this demo '
                                'serves a SavedModel or TFLite files: --backend=tf).')
        try:
            rgb = self.check_file(path)
        except BadImage as e:
            return None, None, f'**{os.path.basename(path)}**: {e}'
        _, rows, faces = self.analyse(rgb)
        if not faces:
            return None, None, f'**{os.path.basename(path)}**: no face found'
        net_input, layers, probs = self.backend.layers(faces[0])
        seen = np.clip((net_input + 1.0) / 2.0 * 255.0, 0, 255).astype(np.uint8)
        seen = np.repeat(seen, 3, axis=2) if seen.shape[-1] == 1 else seen
        seen = np.kron(seen, np.ones((3, 3, 1), np.uint8))     # big enough to look at
        maps = feature_grid(layers[layer])
        return seen, maps, (f'face 1: {rows[0][1]}; layer {layer}: {layers[layer].shape[-1]} '
                            f'maps of {layers[layer].shape[0]}x{layers[layer].shape[1]}')

    def about(self):
        """About tab, in markdown: net, data, accuracy, calibration, per-group accuracy."""
        from core.store import runs
        cfg = self.cfg
        lines = [f'### {cfg.net}', f'- served from `{self.backend.source}`',
                 f'- classes: {", ".join(cfg.classes)}',
                 f'- input: {cfg.input_size[0]}x{cfg.input_size[1]}, network sees '
                 f'{cfg.crop_size[0]}x{cfg.crop_size[1]}, {cfg.channels} channel(s)']
        run = runs.read(cfg.train_dir) if cfg.train_dir else None
        data_dir = (run or {}).get('data_dir')
        if data_dir and os.path.isfile(os.path.join(data_dir, 'dataset.json')):
            meta = jsonfile.read(os.path.join(data_dir, 'dataset.json'), required=('splits',))
            counts = ', '.join(f'{s} {v["count"]:,}' for s, v in meta['splits'].items())
            lines.append(f'- training data: `{data_dir}` ({counts})')
        eval_path = None
        if not cfg.saved_model:
            eval_path = os.path.join(os.path.dirname(self.backend.net.checkpoint), 'eval.json')
        if eval_path and os.path.isfile(eval_path):
            report = jsonfile.read(eval_path, required=('accuracy', 'count'))
            lines.append(f'- eval accuracy: **{report["accuracy"] * 100:.2f}%** on '
                         f'{report["count"]:,} held-out faces')
            cal = report.get('calibration')
            if cal:
                lines.append(f'- calibration: temperature {cal["temperature"]:.2f}, expected '
                             f'calibration error {cal["ece_before"] * 100:.1f}% -> '
                             f'{cal["ece_after"] * 100:.1f}%')
            for group, rows in report.get('groups', {}).items():
                lines += ['', f'| {group} | accuracy | count |', '| --- | ---: | ---: |']
                lines += [f'| {n} | {r["accuracy"] * 100:.1f}% | {r["count"]} |'
                          for n, r in rows.items()]
        elif cfg.saved_model:
            lines.append(f'- exported from checkpoint `{self.info.get("checkpoint")}`')
        return '\n'.join(lines)


def examples():
    """A few shared portraits to click, when ../shared is beside the repo."""
    found = []
    for folder in ('woman', 'man'):
        path = os.path.join(EXAMPLES, folder)
        if os.path.isdir(path):
            found += [os.path.join(path, n) for n in sorted(os.listdir(path))[:2]]
    return [os.path.abspath(p) for p in found]


def build_page(demo):
    import gradio as gr
    table_headers = ['photo', 'face', 'result', 'box x,y,w,h']
    with gr.Blocks(title=f'{demo.cfg.net}: faces') as page:
        gr.Markdown(f'## {demo.cfg.net}: {" / ".join(demo.cfg.classes)} from faces in photos')
        with gr.Tab('Upload'):
            files = gr.File(label='Photos', file_count='multiple', type='filepath',
                            elem_id='upload-files')
            run_upload = gr.Button('Classify', variant='primary', elem_id='upload-run')
            # Small tiles, each image whole inside its tile (a click enlarges it): the photo
            # and, beside it, every face with its label.
            gallery = gr.Gallery(label='Faces found', columns=4, height='auto',
                                 object_fit='contain', preview=False, elem_id='upload-gallery')
            table = gr.Dataframe(headers=table_headers, label='Results', elem_id='upload-table')
            note = gr.Markdown(elem_id='upload-note')
            run_upload.click(demo.photos, files, [gallery, table, note])
            files.upload(demo.photos, files, [gallery, table, note])
            if examples():
                gr.Examples([[[p]] for p in examples()], inputs=files, label='Example photos')
        with gr.Tab('Webcam'):
            camera = gr.Image(sources=['webcam'], type='filepath', label='Snapshot',
                              elem_id='webcam-input')
            run_camera = gr.Button('Classify snapshot', variant='primary', elem_id='webcam-run')
            camera_out = gr.Image(label='Faces found', height=420, elem_id='webcam-output')
            camera_table = gr.Dataframe(headers=table_headers, label='Results',
                                        elem_id='webcam-table')
            camera_note = gr.Markdown(elem_id='webcam-note')
            run_camera.click(demo.snapshot, camera, [camera_out, camera_table, camera_note],
                             preprocess=False)
        with gr.Tab('Feature maps'):
            names = demo.layer_names()
            photo = gr.File(label='A photo', type='filepath', elem_id='features-file')
            layer = gr.Dropdown(names, value=names[0] if names else None, label='Layer',
                                elem_id='features-layer')
            run_maps = gr.Button('Show', variant='primary', elem_id='features-run')
            with gr.Row():
                seen = gr.Image(label='The face as the network sees it', elem_id='features-input')
                maps = gr.Image(label='Feature maps', elem_id='features-maps')
            maps_note = gr.Markdown(elem_id='features-note')
            run_maps.click(demo.feature_maps, [photo, layer], [seen, maps, maps_note])
        if demo.maker:
            with gr.Tab('Make a face'):
                classes = demo.maker.cfg.classes
                with gr.Row():
                    wanted = gr.Dropdown(classes, value=classes[0], label='Class',
                                         elem_id='make-class')
                    seed = gr.Number(None, precision=0, label='Seed (empty: random)',
                                     elem_id='make-seed')
                make = gr.Button('Make', variant='primary', elem_id='make-run')
                made = gr.Gallery(label='Made faces, with what the classifier says', columns=4,
                                  height='auto', object_fit='contain', preview=False,
                                  elem_id='make-gallery')
                save = gr.DownloadButton('Save the faces (PNG)', elem_id='make-save')
                made_note = gr.Markdown(elem_id='make-note')
                folder = os.path.join(os.environ.get('GRADIO_TEMP_DIR', tempfile.gettempdir()),
                                      'made')
                make.click(lambda c, s: demo.make_faces(c, s, folder), [wanted, seed],
                           [made, save, made_note])
        with gr.Tab('About the model'):
            gr.Markdown(demo.about(), elem_id='about')
    return page


def check_port(host, port):
    """OSError naming --host or --port, whichever cannot be listened on, before the model
    loads."""
    import errno
    import socket
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise OSError(f'--host={host}: not an address this machine knows ({e.strerror}); '
                      'give an address of this machine, or 127.0.0.1') from None
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise OSError(f'--host={host}: not an address of this machine '
                              f'({e.strerror}); give one of its own, or 127.0.0.1') from None
            raise OSError(f'--port={port}: cannot listen on {host}:{port} ({e.strerror}); '
                          'give another --port') from None


def bound_decoding(limit=DEMO_MEGAPIXELS):
    """Every image the server decodes, Gradio's own decoding included, stays within the
    pixel limit of uploads: Pillow refuses anything over twice MAX_IMAGE_PIXELS."""
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = int(limit * 1e6 / 2)


def run(cfg):
    """Starts the demo and blocks until Ctrl-C."""
    import signal
    import sys
    check_port(cfg.host, cfg.port)
    bound_decoding()
    temp = tempfile.mkdtemp(prefix='facecnn-demo-')
    atexit.register(shutil.rmtree, temp, ignore_errors=True)
    # A plain `kill` ends the server like Ctrl-C does, so the temporary folder goes too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    os.environ['GRADIO_TEMP_DIR'] = temp            # uploads and outputs stay in here
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    import logging
    for name in ('httpx', 'uvicorn', 'uvicorn.access', 'gradio'):
        logging.getLogger(name).setLevel(logging.WARNING)    # one line per request otherwise
    demo = Demo(cfg)
    page = build_page(demo)
    page.queue(default_concurrency_limit=1)
    print(f'{cfg.net} demo on http://{cfg.host}:{cfg.port} (serving {demo.backend.source}); '
          f'Ctrl-C stops it; uploads go to {temp} (removed at exit)', flush=True)
    page.launch(server_name=cfg.host, server_port=cfg.port, share=False, show_error=True,
                allowed_paths=[os.path.abspath(EXAMPLES)] if examples() else None,
                max_file_size=f'{cfg.max_upload_mb * 4:g}mb', quiet=True)
