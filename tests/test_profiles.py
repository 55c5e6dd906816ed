"""Run profiles and seeding."""

import subprocess
import sys

import numpy as np
import pytest

from vae_course import profiles


def test_default_is_standard(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_PROFILE", raising=False)
    assert profiles.get_profile().name == "standard"


@pytest.mark.parametrize("name", ["ci", "standard", "full"])
def test_profiles_by_env(monkeypatch, name):
    monkeypatch.setenv("VAE_COURSE_PROFILE", name)
    assert profiles.get_profile().name == name


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="Unknown run profile 'fast'.*ci, standard, full"):
        profiles.get_profile()


def test_profiles_grow():
    ci, standard, full = (profiles.PROFILES[n] for n in ("ci", "standard", "full"))
    assert ci.train_size < standard.train_size <= full.train_size
    assert ci.epochs.keys() == standard.epochs.keys() == full.epochs.keys()
    for family in ci.epochs:
        assert ci.epochs[family] <= standard.epochs[family] <= full.epochs[family]
    assert ci.sizes.keys() == standard.sizes.keys() == full.sizes.keys()
    for experiment in ci.sizes:
        assert ci.size(experiment) <= standard.size(experiment) <= full.size(experiment)
        assert ci.test_images(experiment) <= standard.test_images(experiment) <= full.test_images(experiment)
    with pytest.raises(TypeError):
        ci.epochs["conv_ae"] = 100  # one place decides: profiles are read-only
    with pytest.raises(TypeError):
        ci.sizes["anything"] = 100


def test_chapter_04_warm_up_and_learning_rate_decay_fit_in_the_main_run():
    for profile in profiles.PROFILES.values():
        for part in ("ch04_main_warmup", "ch04_main_lr_decay"):
            assert 0 <= profile.epochs[part] <= profile.epochs["ch04_main"], (profile.name, part)


def test_size_of_an_experiment():
    profile = profiles.Profile("p", "test", train_size=1_000, test_size=10, epochs={}, sizes={"small": 200, "big": 5_000})
    assert profile.size("small") == 200
    assert profile.size("big") == 1_000  # never more than the profile's training set
    assert profile.size("unlisted") == 1_000


def test_test_images_of_an_experiment():
    profile = profiles.Profile("p", "test", train_size=1_000, test_size=10, epochs={}, sizes={"few": 4, "many": 200})
    assert profile.test_images("few") == 4
    assert profile.test_images("many") == 10  # never more than the profile's test set
    assert profile.test_images("unlisted") == 10


def test_set_seed_repeats_numpy():
    profiles.set_seed(3)
    a = np.random.rand(3)
    profiles.set_seed(3)
    assert np.array_equal(a, np.random.rand(3))


def test_set_seed_imports_no_framework():
    code = "import sys, vae_course.profiles as p; p.set_seed(1); print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_set_seed_under_the_torch_backend_seeds_keras_without_tensorflow():
    code = (
        "import os, sys; os.environ['KERAS_BACKEND'] = 'torch'\n"
        "import keras, vae_course.profiles as p\n"
        "draw = lambda: keras.ops.convert_to_numpy(keras.random.normal((3,))).tolist()\n"
        "p.set_seed(1); a = draw(); p.set_seed(1); b = draw(); p.set_seed(2); c = draw()\n"
        "print(a == b, a != c, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-3:] == ["True", "True", "False"]


def test_str_says_what_the_profile_does():
    text = str(profiles.PROFILES["ci"])
    assert text.startswith("Run profile 'ci'") and "2,048 training" in text and "conv_ae 1" in text
