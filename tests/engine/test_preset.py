"""Presets: defaults, round-trips, overrides and every class of error a person can make."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import preset as presets
from engine.preset import Preset, PresetError


def test_defaults_match_design():
    p = Preset()
    assert p.format == "plateau-preset/1"
    assert p.data.source == "digits" and p.data.normalize == "standardize"
    assert p.model.arch == "convnet" and p.model.width == 32 and p.model.depth == 3
    assert p.train.optimizer.name == "adam" and p.train.optimizer.lr == 0.001
    assert p.train.schedule.name == "none" and p.train.schedule.gamma == 0.1
    assert p.data.synthetic.samples == 2000


def test_every_shipped_preset_loads_and_round_trips(tmp_path):
    shipped = sorted(presets.presets_dir().glob("*.toml"))
    names = {p.stem for p in shipped}
    assert {
        "digits",
        "article-1-imbalance",
        "article-2-steplr",
        "article-3-regularized",
        "mnist",
        "fashion-mnist",
        "cifar10",
        "folder",
    } <= names
    for path in shipped:
        p = presets.load(path)
        presets.save(p, tmp_path / path.name)
        assert presets.load(tmp_path / path.name) == p
        assert presets.dumps(presets.load(tmp_path / path.name)) == presets.dumps(p)


def test_missing_keys_take_defaults():
    p = presets.loads('name = "x"\n[train.optimizer]\nlr = 0.1\n')
    assert p.train.optimizer.lr == 0.1
    assert p.train.epochs == 10 and p.data.source == "digits" and p.format == presets.FORMAT


def test_saved_file_has_every_key(tmp_path):
    presets.save(Preset(), tmp_path / "p.toml")
    raw = tomllib.loads((tmp_path / "p.toml").read_text())
    assert raw["train"]["schedule"]["warmup_epochs"] == 0
    assert raw["data"]["synthetic"]["signal"] == 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[train]\nlearning_rate = 0.1\n",
            "unknown key 'train.learning_rate'; did you mean 'train.optimizer.lr'?",
        ),
        ("[model]\narchitecture = 'mlp'\n", "did you mean 'model.arch'?"),
        ("[train]\nbatchsize = 3\n", "did you mean 'train.batch_size'?"),
        ("[data]\nnormalise = 'unit'\n", "did you mean 'data.normalize'?"),
        ("[trian]\nepochs = 3\n", "unknown key 'trian'; did you mean 'train'"),
    ],
)
def test_unknown_keys_suggest_nearest(text, expected):
    with pytest.raises(PresetError) as err:
        presets.loads(text)
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[train]\nepochs = 'ten'\n", "train.epochs", "expected an integer from 1"),
        ("[train]\nepochs = 0\n", "train.epochs", "out of range"),
        ("[train.optimizer]\nlr = -1.0\n", "train.optimizer.lr", "out of range"),
        ("[train.optimizer]\nname = 'adamm'\n", "train.optimizer.name", "did you mean 'adam'"),
        ("[data]\nsource = 'imagenet'\n", "data.source", "one of 'digits'"),
        ("[data]\nval_fraction = 1.5\n", "data.val_fraction", "from 0.01 to 0.9"),
        ("[model]\nbatch_norm = 1\n", "model.batch_norm", "true or false"),
        ("[data]\naugment = ['spin:3']\n", "data.augment", "accepted: hflip, crop:N"),
        ("[data]\naugment = ['crop:x']\n", "data.augment", "needs a number"),
        ("[data]\nclass_fraction = {'3' = 2.0}\n", "data.class_fraction.3", "out of range"),
        ("[train]\ndevice = 'gpu'\n", "train.device", "'cuda:N'"),
        ("[train]\ncompile_mode = 'fast'\n", "train.compile_mode", "'reduce-overhead'"),
        ("[train.schedule]\nmilestones = [5, 2]\n", "train.schedule.milestones", "increasing"),
        ("[train.schedule]\nname = 'multistep'\n", "train.schedule.milestones", "at least one"),
        (
            "[train]\nepochs = 2\n[train.schedule]\nwarmup_epochs = 2\n",
            "train.schedule.warmup_epochs",
            "smaller",
        ),
        ("[data]\nsource = 'folder'\n", "data.root", "must name the image folder"),
        ("[train]\nbatch_size = 1\n", "train.batch_size", "or 'model.batch_norm' = false"),
        (
            "[train]\nbatch_size = 1\n[model]\narch = 'resnet50'\npretrained = true\n",
            "train.batch_size",
            "resnet50's batch norm needs at least 2 images a batch to normalize over; set "
            "'train.batch_size' to 2 or more (16-128 is usual)",
        ),
        ("train = 3\n", "train", "must be a table"),
    ],
)
def test_bad_values_name_key_and_accepted_values(text, key, words):
    with pytest.raises(PresetError) as err:
        presets.loads(text)
    assert err.value.key == key
    assert key.split(".")[0] in str(err.value)
    assert words in str(err.value)


def test_malformed_toml_gives_the_line():
    with pytest.raises(PresetError) as err:
        presets.loads('name = "x"\n[train]\nepochs = = 3\n', "p.toml")
    assert "p.toml: malformed TOML" in str(err.value) and "line 3" in str(err.value)


def test_unknown_format_lists_supported():
    with pytest.raises(PresetError) as err:
        presets.loads('format = "plateau-preset/9"\n')
    assert "unsupported format 'plateau-preset/9'" in str(err.value)
    assert "plateau-preset/1" in str(err.value)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(PresetError, match="preset file not found: .*nope.toml"):
        presets.load(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PresetError, match="not a text file"):
        presets.load(tmp_path / "bin.toml")


def test_set_overrides_coerce_types():
    changes = presets.parse_overrides(
        [
            "data.balance=oversample",
            "train.optimizer.lr=3e-4",
            "train.epochs=4",
            "model.batch_norm=false",
            "data.augment=hflip,crop:4",
            "train.schedule.milestones=[2, 3]",
            "data.class_fraction={'3' = 0.05}",
            "name='quoted name'",
        ]
    )
    p = Preset().with_changes(changes)
    assert p.data.balance == "oversample"
    assert p.train.optimizer.lr == pytest.approx(3e-4)
    assert p.train.epochs == 4 and p.model.batch_norm is False
    assert p.data.augment == ["hflip", "crop:4"]
    assert p.train.schedule.milestones == [2, 3]
    assert p.data.class_fraction == {"3": 0.05}
    assert p.name == "quoted name"


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("learning_rate=0.1", "did you mean 'train.optimizer.lr'"),
        ("train.epochs", "expected KEY=VALUE"),
        ("train.epochs=many", "'train.epochs'"),
        ("model.batch_norm=maybe", "true or false"),
        ("train=3", "is a section"),
    ],
)
def test_bad_overrides(item, words):
    with pytest.raises(PresetError, match=words):
        Preset().with_changes(presets.parse_overrides([item]))


def test_get_reads_dotted_keys():
    assert Preset().get("train.optimizer.lr") == 0.001


VALUES = st.one_of(
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.text(max_size=6), max_size=3),
    st.lists(st.integers(-3, 20), max_size=3),
    st.dictionaries(st.text(max_size=3), st.floats(-1, 2), max_size=2),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from(presets.all_keys() + ["train.bogus", "data.synthetic.colour", "lr"]),
    value=VALUES,
)
def test_random_edits_load_or_fail_with_a_message(key, value):
    raw = Preset().to_dict()
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    try:
        loaded = presets.from_dict(raw)
    except PresetError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert presets.loads(presets.dumps(loaded)) == loaded


def test_an_older_format_is_migrated_while_loading(tmp_path, monkeypatch):
    """A made-up format 0 kept the learning rate at ``train.lr``; a registered migration reads
    it, and the loaded preset is the current format."""
    from engine.preset import files

    def from_v0(raw):
        train = dict(raw.get("train", {}))
        if "lr" in train:
            train.setdefault("optimizer", {})["lr"] = train.pop("lr")
        return {**raw, "train": train, "format": "plateau-preset/1"}

    monkeypatch.setitem(files.MIGRATIONS, "plateau-preset/0", from_v0)
    old = tmp_path / "old.toml"
    old.write_text('format = "plateau-preset/0"\nname = "old"\n[train]\nlr = 0.05\nepochs = 2\n')
    preset = presets.load(old, {"train.epochs": 3})  # overrides apply to the migrated preset
    assert preset.format == "plateau-preset/1" and preset.train.optimizer.lr == 0.05
    assert preset.train.epochs == 3 and preset.name == "old"
    assert presets.loads(presets.dumps(preset)) == preset  # saved as the current format
    (tmp_path / "future.toml").write_text('format = "plateau-preset/9"\n')
    with pytest.raises(PresetError, match="unsupported format 'plateau-preset/9'.*preset/0"):
        presets.load(tmp_path / "future.toml")


def test_batch_size_one_is_refused_only_where_batch_norm_is():
    """Batch norm cannot normalize one image; the way out offered is one the preset accepts
    ('model.batch_norm' = false is only for networks trained from scratch), and a network with
    no batch norm (convnext_tiny: layer norm) trains on single images."""
    with pytest.raises(PresetError) as err:
        presets.loads("[train]\nbatch_size = 1\n[model]\narch = 'mobilenet_v3_small'\n")
    assert str(err.value).endswith("(16-128 is usual)")  # no model.batch_norm = false
    assert presets.loads("[train]\nbatch_size = 1\n[model]\narch = 'convnext_tiny'\n")
    assert presets.loads("[train]\nbatch_size = 1\n[model]\nbatch_norm = false\n")


def test_relative_paths_beside_the_preset_file_and_in_a_run(tmp_path, monkeypatch):
    """A preset kept next to its photos opens from anywhere (a relative path that names
    something beside the file means that); a run keeps its paths absolute, so it resumes and
    shows its images from any working directory."""
    from engine.preset import absolute_paths, load, save

    (tmp_path / "photos").mkdir()
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "marks.txt").write_text("")
    preset = Preset().with_changes(
        {"data.root": "../photos", "data.exclude": "marks.txt", "data.relabel": "nowhere.txt"}
    )
    save(preset, tmp_path / "presets" / "mine.toml")
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    loaded = load(tmp_path / "presets" / "mine.toml")
    assert loaded.data.root == str(tmp_path / "photos")
    assert loaded.data.exclude == str(tmp_path / "presets" / "marks.txt")
    assert loaded.data.relabel == "nowhere.txt"  # found nowhere: as written (the error says so)
    (elsewhere.parent / "photos").mkdir()  # the photos beside the preset still come first
    assert load(tmp_path / "presets" / "mine.toml").data.root == str(tmp_path / "photos")
    kept = absolute_paths(preset)
    assert kept.data.root == str(elsewhere.parent / "photos")
    assert kept.data.relabel == str(elsewhere / "nowhere.txt") and kept.data.cache_dir == ""
