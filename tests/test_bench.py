"""The pieces of ``python -m vae_course.bench`` at tiny sizes: no timing is asserted, only what is computed and written."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vae_course import bench  # noqa: E402
from vae_course.profiles import set_seed  # noqa: E402
from vae_course.torch import training  # noqa: E402
from vae_course.torch.vae import ConvVAE, MLPVAE, vae_evaluate, vae_train  # noqa: E402

TINY = bench.ThroughputSettings(batch_size=8, steps=2, warmup_steps=1, repeats=1, matmul_size=128)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One PyTorch thread: these tiny models gain nothing from more, and a busy machine loses a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def positive_finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def mnist(request) -> np.ndarray:
    """256 MNIST training images, (N, 28, 28) floats in [0, 1]."""
    request.getfixturevalue("data_dir")
    return bench._mnist_train(256, "nchw")[:, 0]


# --- throughput ----------------------------------------------------------------------------------


def test_measure_reports_each_variant_and_checks_its_arguments():
    calls = []

    def setup(batch_size):
        return lambda x: calls.append((batch_size, len(x)))

    variants = [bench.Variant("a", setup), bench.Variant("b", setup, batch_size=4, note="smaller")]
    settings = bench.ThroughputSettings(batch_size=8, steps=3, warmup_steps=1, repeats=2)
    result = bench.measure(variants, np.zeros((24, 1)), settings)
    assert set(result) == {"a", "b"}
    assert result["a"]["batch_size"] == 8 and result["b"]["batch_size"] == 4 and result["b"]["note"] == "smaller"
    assert all(positive_finite(r["img_s"]) and len(r["runs_img_s"]) == 2 for r in result.values())
    # a warm-up call then two timed calls each, on steps * batch_size examples
    assert calls == [(8, 8), (4, 4), (8, 24), (4, 12), (8, 24), (4, 12)]
    with pytest.raises(ValueError, match="needs 24 examples"):
        bench.measure(variants, np.zeros((10, 1)), settings)
    with pytest.raises(ValueError, match="clock"):
        bench.measure(variants, np.zeros((24, 1)), settings, clock="sundial")
    with pytest.raises(ValueError, match="steps"):
        bench.ThroughputSettings(steps=0)
    with pytest.raises(ValueError, match="matmul_size"):
        bench.ThroughputSettings(matmul_size=0)


def test_run_throughput_json_has_positive_numbers_and_ratio_is_optimized_over_baseline(data_dir):
    throughput, ablation = bench.run_throughput(TINY, models=["torch_mlp_vae"], ablation=False, log=lambda _: None)
    assert ablation == {}
    result = throughput["torch_mlp_vae"]
    for key in ("baseline_img_s", "optimized_img_s", "ratio"):
        assert positive_finite(result[key]), key
    assert result["ratio"] == pytest.approx(result["optimized_img_s"] / result["baseline_img_s"], rel=0.01)
    ceiling = result["ceiling"]
    flop = bench.flop_per_image(MLPVAE(hidden=400, latent_dim=20), np.zeros((2, 784), np.float32))
    assert ceiling["mflop_per_image"] == pytest.approx(flop / 1e6, abs=0.01)
    # The rates are stored rounded to 0.1 GFLOP/s and the ratio from the unrounded rates, so
    # the stored ratio must lie in the range that rounding leaves (a tiny run's baseline is
    # only a few GFLOP/s, where 0.05 is already a few per cent).
    matmul, baseline = ceiling["matmul_float32_gflop_s"], ceiling["baseline_gflop_s"]
    lowest, highest = (matmul - 0.05) / (baseline + 0.05), (matmul + 0.05) / (baseline - 0.05)
    assert lowest - 0.005 <= ceiling["max_ratio_float32"] <= highest + 0.005
    settings = result["settings"]
    assert settings["batch_size"] == 8 and settings["steps"] == 2 and settings["threads"] == torch.get_num_threads()
    assert settings["torch"] == torch.__version__
    with pytest.raises(ValueError, match="Unknown model"):
        bench.run_throughput(TINY, models=["jax_vae"])


def test_torch_conv_ablation_lists_each_optimisation(data_dir, monkeypatch):
    names = [v.name for v in bench._torch_conv_variants(ablation=True)]
    assert names[:2] == ["baseline", "optimized"]
    tried = {
        "preloaded tensors", "+ torch.compile", "+ no per-step sync", "+ bf16 autocast", "optimized, 1 thread", "optimized, batch 256",
    }
    assert tried <= set(names)
    # run the cheap ones (not torch.compile) once, at tiny sizes
    cheap_names = ("baseline", "optimized", "preloaded tensors", "optimized, 1 thread")
    cheap = [v for v in bench._torch_conv_variants(ablation=True) if v.name in cheap_names]
    monkeypatch.setattr(bench, "_torch_conv_variants", lambda ablation: cheap)
    threads, channels_last = torch.get_num_threads(), training.CHANNELS_LAST
    throughput, ablation = bench.run_throughput(TINY, models=["torch_conv_vae"], log=lambda _: None)
    rows = {row["variant"]: row for row in ablation["torch_conv_vae"]}
    assert set(rows) == {v.name for v in cheap}
    assert rows["baseline"]["vs_baseline"] == 1.0
    assert all(positive_finite(row["img_s"]) and positive_finite(row["vs_baseline"]) for row in rows.values())
    # the variants that change a setting put it back
    assert torch.get_num_threads() == threads and training.CHANNELS_LAST == channels_last


def test_torch_baseline_loss_is_the_packages_negative_elbo(mnist):
    set_seed(0)
    model = MLPVAE(hidden=32, latent_dim=4)
    x = torch.from_numpy(mnist[:16].reshape(16, -1))
    torch.manual_seed(1)
    tutorial = bench._tutorial_loss(model, x) / len(x)
    torch.manual_seed(1)
    package = model.vae_loss(x)["loss"]
    assert float(tutorial.detach()) == pytest.approx(float(package.detach()), rel=1e-5)


@pytest.mark.parametrize("kind", ["MLPVAE", "ConvVAE"])
def test_torch_baseline_and_optimized_loops_train_the_same_model_alike(mnist, kind):
    x = mnist[:64].reshape(64, -1) if kind == "MLPVAE" else mnist[:64, None]
    make = (lambda: MLPVAE(hidden=64, latent_dim=4)) if kind == "MLPVAE" else ConvVAE
    set_seed(0)
    baseline, optimized = make(), make()
    optimized.load_state_dict(baseline.state_dict())
    before = vae_evaluate(baseline, x)["loss"]
    history = bench.torch_baseline_train(baseline, x, epochs=2, batch_size=8)
    bench._torch_optimized_train(optimized, x, epochs=2, batch_size=8)
    after_baseline, after_optimized = vae_evaluate(baseline, x)["loss"], vae_evaluate(optimized, x)["loss"]
    assert len(history) == 2 and history[1] < history[0]
    assert after_baseline < 0.9 * before and after_optimized < 0.9 * before
    assert after_optimized == pytest.approx(after_baseline, rel=0.1)


def test_keras_baseline_and_optimized_loops_train_the_same_model_alike(mnist):
    pytest.importorskip("keras")
    from vae_course.keras.vae import ConvVAE as KerasConvVAE

    x = mnist[:32, ..., None]
    set_seed(0)
    baseline = KerasConvVAE()
    optimized = KerasConvVAE()
    optimized.set_weights(baseline.get_weights())
    before = float(baseline.vae_loss(x, eps=np.zeros((32, 2), np.float32))["loss"])
    history = bench.keras_baseline_train(baseline, x, epochs=2, batch_size=8)
    bench._keras_optimized_train(optimized, x, epochs=2, batch_size=8)
    eps = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    after_baseline = float(baseline.vae_loss(x, eps=eps)["loss"])
    after_optimized = float(optimized.vae_loss(x, eps=eps)["loss"])
    assert len(history) == 2 and history[1] < history[0]
    assert after_baseline < before and after_optimized < before
    assert after_optimized == pytest.approx(after_baseline, rel=0.1)


def test_channels_last_training_gives_the_same_model_back_in_its_usual_layout(mnist, monkeypatch):
    x = mnist[:32, None]
    histories, models = [], []
    for channels_last in (True, False):
        monkeypatch.setattr(training, "CHANNELS_LAST", channels_last)
        set_seed(0)
        model = ConvVAE()
        histories.append(vae_train(model, x, epochs=1, batch_size=8, validation=x[:8], progress=False))
        models.append(model)
    keys = {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}
    assert histories[0].keys() == histories[1].keys() == keys
    for key in histories[0]:
        assert histories[0][key] == pytest.approx(histories[1][key], rel=1e-3), key
    # Adam turns float rounding in near-zero gradients into steps of up to lr, so compare what the models compute
    assert all(p.is_contiguous() for p in models[0].parameters())
    after = [vae_evaluate(model, x, seed=3) for model in models]
    assert after[0]["loss"] == pytest.approx(after[1]["loss"], rel=1e-3)
    assert not models[0].training


def test_channels_last_is_used_only_for_convolutions_on_the_cpu():
    images = torch.zeros(2, 1, 28, 28)
    assert training._use_channels_last(ConvVAE(), images, torch.device("cpu"))
    assert not training._use_channels_last(MLPVAE(), torch.zeros(2, 784), torch.device("cpu"))
    assert not training._use_channels_last(ConvVAE(), images, torch.device("cuda"))


# --- quality -------------------------------------------------------------------------------------


def test_quality_runs_follow_the_profiles_and_the_reference_configuration():
    full = {run.name: run for run in bench.quality_runs()}
    assert set(full) == {"mlp_vae_mnist", "conv_vae_mnist", "conv_vae_fashion"}
    mlp = full["mlp_vae_mnist"]
    assert (mlp.hidden, mlp.latent_dim, mlp.epochs, mlp.batch_size, mlp.lr, mlp.train_size) == (400, 20, 10, 128, 1e-3, 60_000)
    from vae_course.profiles import get_profile

    standard = get_profile("standard")
    conv = full["conv_vae_fashion"]
    expected = (2, standard.epochs["conv_vae"], standard.train_size, standard.batch_size, "standard")
    assert (conv.latent_dim, conv.epochs, conv.train_size, conv.batch_size, conv.profile) == expected
    assert all(run.quick for run in bench.quality_runs(quick=True))


def test_full_adds_the_run_the_target_is_for():
    from vae_course.profiles import get_profile

    runs = {run.name: run for run in bench.quality_runs(full=True)}
    assert set(runs) == {"mlp_vae_mnist", "conv_vae_mnist", "conv_vae_fashion", "conv_vae_mnist_full"}
    best, standard = runs["conv_vae_mnist_full"], runs["conv_vae_mnist"]
    assert (best.profile, best.epochs, best.dataset, best.latent_dim) == ("full", get_profile("full").epochs["conv_vae"], "mnist", 2)
    assert best.epochs > standard.epochs
    with pytest.raises(ValueError, match="exclude"):
        bench.quality_runs(quick=True, full=True)


def test_run_quality_scores_a_tiny_model_and_caches_it(data_dir, capsys):
    run = bench.QualityRun(
        "test_bench_mlp", "mlp", "mnist", epochs=2, train_size=256, test_size=64, profile="ci",
        batch_size=16, latent_dim=4, hidden=32, iwae_k=5, iwae_images=16, quick=True,
    )
    result = bench.run_quality(run, log=lambda _: None)
    for key in ("test_neg_elbo_nats", "test_neg_iwae_nats", "neg_elbo_subset_nats", "test_reconstruction_nats"):
        assert positive_finite(result[key]), key
    assert result["test_neg_elbo_nats"] == pytest.approx(result["test_reconstruction_nats"] + result["test_kl_nats"], abs=0.01)
    assert result["test_neg_elbo_nats"] < 784 * math.log(2)  # better than predicting 0.5 for every pixel
    assert 0 < result["test_neg_elbo_standard_error_nats"] < 0.2 * result["test_neg_elbo_nats"]
    assert (result["iwae_k"], result["iwae_images"], result["quick"], result["trained_now"]) == (5, 16, True, True)
    assert result["config"]["test_size"] == 64 and result["profile"] == "ci"
    again = bench.run_quality(run, log=lambda _: None)
    assert not again["trained_now"] and "Loaded trained test_bench_mlp" in capsys.readouterr().out
    assert again["test_neg_elbo_nats"] == result["test_neg_elbo_nats"]


def test_a_conv_vae_under_the_full_profile_is_scored_against_the_target(data_dir):
    run = bench.QualityRun(
        "test_bench_conv_full", "conv", "mnist", epochs=1, train_size=128, test_size=32, profile="full",
        batch_size=32, iwae_k=2, iwae_images=8,
    )
    result = bench.run_quality(run, log=lambda _: None)
    assert result["profile"] == "full" and result["target_full_profile_nats"] == 145.0
    assert result["meets_target"] is False  # one epoch on 128 images is far from 145 nats
    standard = bench.run_quality(replace(run, name="test_bench_conv_standard", profile="standard"), log=lambda _: None)
    assert "target_full_profile_nats" in standard and "meets_target" not in standard


def test_per_image_neg_elbo_averages_to_vae_evaluate_and_is_seeded():
    set_seed(0)
    model = MLPVAE(hidden=16, latent_dim=2)
    x = np.random.default_rng(0).uniform(size=(1100, 784)).astype(np.float32)  # three batches, the last one short
    per_image = bench.per_image_neg_elbo(model, x, seed=3)
    assert per_image.shape == (1100,) and np.isfinite(per_image).all()
    assert per_image.mean() == pytest.approx(vae_evaluate(model, x, seed=3)["loss"], rel=1e-6)
    np.testing.assert_array_equal(bench.per_image_neg_elbo(model, x, seed=3), per_image)
    assert not np.array_equal(bench.per_image_neg_elbo(model, x, seed=4), per_image)


def test_iwae_is_at_least_the_elbo_on_average():
    set_seed(0)
    model = MLPVAE(hidden=16, latent_dim=2)
    x = np.random.default_rng(0).uniform(size=(32, 784)).astype(np.float32)
    one = bench.iwae_nats(model, x, 1, seed=0)
    many = bench.iwae_nats(model, x, 50, seed=0, chunk=100)
    assert many > one
    assert bench.iwae_nats(model, x, 50, seed=0, chunk=100) == many  # seeded


# --- the command line and the report -------------------------------------------------------------


def test_main_writes_the_json_and_prints_the_table(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "matmul_gflop_s", lambda dtype, size: 100.0)  # seconds at the default size: not needed here
    out = tmp_path / "sub" / "bench.json"
    returned = bench.main([
        "--part", "throughput", "--models", "torch_mlp_vae", "--steps", "2", "--batch-size", "8", "--no-ablation",
        "--clock", "cpu", "--out", str(out),
    ])
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(returned))
    assert set(written) == {"meta", "throughput"}
    row = written["throughput"]["torch_mlp_vae"]
    assert positive_finite(row["ratio"]) and row["settings"]["clock"] == "cpu"
    assert written["meta"]["versions"]["torch"] == torch.__version__
    printed = capsys.readouterr().out
    assert "torch_mlp_vae" in printed and "ratio" in printed and str(out) in printed


def test_report_labels_quick_runs_and_shows_reference_and_target():
    quality = {
        "mlp_vae_mnist": {"quick": True, "profile": "ci", "config": {"epochs": 1}, "test_neg_elbo_nats": 200.0,
                          "test_neg_iwae_nats": 190.0, "iwae_k": 10, "iwae_images": 128, "reference": bench.MLP_REFERENCE},
        "conv_vae_mnist": {"quick": False, "profile": "standard", "config": {"epochs": 10}, "test_neg_elbo_nats": 150.0,
                           "test_neg_iwae_nats": 145.0, "iwae_k": 50, "iwae_images": 1000, "target_full_profile_nats": 145.0},
    }
    text = bench.format_report({"meta": {"quick": True}, "quality": quality})
    assert "mlp_vae_mnist (quick)" in text and "pytorch/examples: 105.6" in text
    assert "conv_vae_mnist " in text and "145 under the full profile (run with --full)" in text
    with_error = {**quality["conv_vae_mnist"], "test_neg_elbo_standard_error_nats": 0.314}
    assert "150.00 ± 0.31" in bench.format_report({"meta": {}, "quality": {"conv_vae_mnist": with_error}})
    for neg_elbo, verdict in ((144.2, "met"), (146.0, "MISSED")):
        full = {**quality["conv_vae_mnist"], "profile": "full", "config": {"epochs": 50}, "test_neg_elbo_nats": neg_elbo,
                "meets_target": neg_elbo <= 145.0}
        text = bench.format_report({"meta": {}, "quality": {**quality, "conv_vae_mnist_full": full}})
        assert f"target <= 145: {verdict}" in text and f"{neg_elbo:.2f} " in text
        assert "(run with --full)" not in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--part", "speed"],
        ["--threads", "0"],
        ["--threads", "two"],
        ["--clock", "sundial"],
        ["--models", "jax_vae"],
        ["--steps", "-1"],
        ["--batch-size", "0"],
        ["--unknown"],
        ["--quick", "--full"],
        ["--part", "throughput", "--full"],
    ],
)
def test_cli_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_cli_refuses_a_folder_as_output(tmp_path):
    with pytest.raises(SystemExit, match="is a folder"):
        bench.main(["--out", str(tmp_path)])


# --- the ceiling ---------------------------------------------------------------------------------


def test_flop_per_image_counts_the_products_of_forward_and_backward():
    """An MLPVAE's step is 3 matrix products per linear layer (forward, two in backward): 6 * weights FLOPs per image."""
    model = MLPVAE(hidden=400, latent_dim=20)
    weights = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
    first_layer = 784 * 400  # the gradient with respect to the input images is not computed
    expected = 6 * weights - 2 * first_layer
    assert bench.flop_per_image(model, np.random.default_rng(0).random((8, 784), dtype=np.float32)) == expected
    assert all(p.grad is None for p in model.parameters())
    conv = bench.flop_per_image(ConvVAE(), np.zeros((4, 1, 28, 28), np.float32))
    assert 100e6 < conv < 200e6  # the DLwP ConvVAE: about 135 MFLOP per image


def test_ceiling_bounds_the_speed_up_by_a_matrix_products_rate():
    assert bench.matmul_gflop_s(size=64, repeats=2) > 0
    ceiling = bench._ceiling(1e8, 500.0, 600.0, {"float32": 100.0, "bfloat16": 250.0})
    assert ceiling["baseline_gflop_s"] == 50.0 and ceiling["optimized_gflop_s"] == 60.0
    assert ceiling["max_ratio_float32"] == 2.0 and ceiling["max_ratio_bfloat16"] == 5.0
    row = {"settings": {"batch_size": 128, "threads": 2, "clock": "wall"}, "baseline_img_s": 500.0,
           "optimized_img_s": 600.0, "ratio": 1.2, "target_ratio": 1.8, "ceiling": ceiling}
    text = bench.format_report({"meta": {}, "throughput": {"torch_conv_vae": row}})
    assert "2.00x" in text and "5.00x" in text and "max fp32" in text
