"""The project's shape: no import circle anywhere, the layers (data/ and common/ without
core/; serving without training's internals), core/ in rooms, functions short enough to
read at once."""
import ast
import os

from conftest import REPO

PACKAGES = ('common', 'core', 'core.config', 'core.run', 'core.train', 'core.evaluate',
            'core.serve', 'core.store', 'modes', 'data',
            'networks', 'bench', 'tools')
MAX_FUNCTION_LINES = 60
SERVING_MODES = ('modes.predict', 'modes.features', 'modes.export', 'modes.demo',
                 'modes.generate')
# core/'s floors, the ground first: a module imports its own room and lower floors only.
CORE_FLOORS = (('core.checkpoints', 'core.classes', 'core.modes', 'core.precision'),
               ('core.store',),
               ('core.config', 'core.model'),
               ('core.evaluate', 'core.gan'),
               ('core.run', 'core.train', 'core.serve'))


def project_modules():
    """{module name: file} of every Python module of the project (tests aside)."""
    found = {}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith('.') and d not in ('tests', 'records',
                                                                          'checkpoints')]
        for name in files:
            if name.endswith('.py'):
                rel = os.path.relpath(os.path.join(root, name), REPO)[:-3].replace(os.sep, '.')
                found[rel.removesuffix('.__init__')] = os.path.join(root, name)
    return found


def imports_of(path, modules):
    """The project modules a file imports, at the top or inside functions alike."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f'{node.module}.{alias.name}' for alias in node.names)
    return {n for n in names if n in modules}


def test_no_module_imports_itself_back_through_others():
    modules = project_modules()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    # A package's __init__ is loaded by its modules; an edge to it is not a circle of ours.
    graph = {name: {d for d in deps if d not in PACKAGES} for name, deps in graph.items()}
    state, cycles = {}, []

    def visit(node, trail):
        state[node] = 'open'
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 'open':
                cycles.append(trail[trail.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 'done'

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, 'import circles: ' + '; '.join(' -> '.join(c) for c in cycles)


def test_the_data_side_needs_nothing_from_core_or_the_platform():
    modules = project_modules()
    for name, path in modules.items():
        if name.startswith('data.') or name.startswith('common.'):
            bad = {d for d in imports_of(path, modules)
                   if d.split('.')[0] in ('core', 'cnn', 'modes', 'runner')}
            assert not bad, f'{name} imports {sorted(bad)}'


def test_the_demo_uses_inference_not_the_training_module():
    modules = project_modules()
    assert 'cnn' not in imports_of(modules['modes.demo'], modules)
    assert 'distributed' not in modules          # one training loop: cnn.train


def test_serving_needs_nothing_of_training():
    """A model answers photos without the training loop or its recipes."""
    modules = project_modules()
    for name, path in modules.items():
        if name.startswith('core.serve') or name in SERVING_MODES:
            bad = {d for d in imports_of(path, modules)
                   if d.startswith('core.train') or d == 'cnn'}
            assert not bad, f'{name} imports {sorted(bad)}'


def test_every_mode_is_a_module_of_modes_with_run():
    from core import modes as table
    for name in table.names():
        path = os.path.join(REPO, 'modes', f'{name}.py')
        tree = ast.parse(open(path, encoding='utf-8').read())
        assert any(isinstance(n, ast.FunctionDef) and n.name == 'run' for n in tree.body), name


def test_core_is_rooms_with_a_few_shared_modules():
    rooms = {d for d in os.listdir(os.path.join(REPO, 'core'))
             if os.path.isfile(os.path.join(REPO, 'core', d, '__init__.py'))}
    assert rooms == {'config', 'run', 'train', 'evaluate', 'serve', 'store'}
    for room in rooms:          # each room says what lives there
        assert open(os.path.join(REPO, 'core', room, '__init__.py')).read().startswith('"""')
    shared = [n for n in os.listdir(os.path.join(REPO, 'core'))
              if n.endswith('.py') and n != '__init__.py']
    assert len(shared) <= 6, sorted(shared)


def floor_and_room(name):
    for floor, rooms in enumerate(CORE_FLOORS):
        for room in rooms:
            if name == room or name.startswith(room + '.'):
                return floor, room
    raise AssertionError(f'{name} is on no floor of CORE_FLOORS: give it one')


def test_nothing_in_core_imports_a_higher_floor_or_a_neighbour_room():
    modules = project_modules()
    wrong = []
    for name, path in modules.items():
        if not name.startswith('core.') or name in PACKAGES:
            continue
        floor, room = floor_and_room(name)
        for dep in imports_of(path, modules) - set(PACKAGES):
            if dep.startswith('core.'):
                dep_floor, dep_room = floor_and_room(dep)
                if dep_room != room and dep_floor >= floor:
                    wrong.append(f'{name} (floor {floor}) imports {dep} (floor {dep_floor})')
    assert not wrong, wrong


def test_no_function_of_the_platform_is_longer_than_a_screen():
    long = []
    for name, path in platform_modules():
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f'{name}.{node.name}: {lines} lines')
    assert not long, long


def test_state_is_typed_not_namespaces():
    """What travels between the training's functions is a dataclass with its fields
    declared, never a SimpleNamespace grown along the way."""
    loose = [name for name, path in platform_modules() if not name.startswith('data')
             and 'SimpleNamespace' in open(path, encoding='utf-8').read()]
    assert not loose, loose


def platform_modules():
    """(name, file) of cnn.py, core/ and data/: the modules held to the rules above."""
    return [(name, path) for name, path in sorted(project_modules().items())
            if name == 'cnn' or name.startswith(('core.', 'data.'))]


def test_a_photo_becomes_a_face_in_one_place():
    """faces.align has one caller, faces.aligned: what preparation stores and what predict,
    features and the demo answer are made by the same function."""
    modules = project_modules()
    callers = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for call in ast.walk(node):
                func = getattr(call, 'func', None)
                called = getattr(func, 'attr', None) or getattr(func, 'id', None)
                if isinstance(call, ast.Call) and called == 'align' and \
                        (name == 'data.faces' or getattr(func, 'attr', None) == 'align'):
                    callers.append(f'{name}.{node.name}')
    assert callers == ['data.faces.aligned'], callers



def test_every_session_opens_in_one_place_with_the_runs_precision():
    """core.model opens every session (model.session; model.restored for a trained graph),
    with the run's precision and threads; a training's own, with recovery and a cluster,
    is core/run/sessions.py's SessionManager on model.session_config. No other module opens
    a Session or restores a checkpoint itself."""
    elsewhere = []
    for name, path in project_modules().items():
        if name == 'core.model':
            continue
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            func = getattr(node, 'func', None)
            called = getattr(func, 'attr', None) or getattr(func, 'id', None)
            owner = getattr(getattr(func, 'value', None), 'id', None)
            if isinstance(node, ast.Call) and (
                    called == 'Session' or (called == 'restore' and owner == 'checkpoints')):
                elsewhere.append(f'{name}:{node.lineno}')
    assert not elsewhere, elsewhere


def test_benches_are_a_package_run_with_python_m():
    """`python -m bench.NAME` from the root: no bench edits sys.path, and none runs
    runner.py but through bench.harness."""
    edits, own_runs = [], []
    for name, path in project_modules().items():
        if not name.startswith('bench.'):
            continue
        text = open(path, encoding='utf-8').read()
        if 'sys.path' in text:
            edits.append(name)
        if name != 'bench.harness' and "'runner.py'" in text:
            own_runs.append(name)
    assert not edits and not own_runs, (edits, own_runs)
