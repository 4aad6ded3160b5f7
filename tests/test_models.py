"""Models by name, seeded weights, checkpoints that load with weights_only=True."""
import pickle

import pytest
import torch

from explorer.models import MLP, SmallCNN, build_model, load_checkpoint, save_checkpoint


def test_builtin_models_fit_the_data(digits):
    cnn = build_model("cnn", digits)
    assert cnn(digits.inputs("test")[:3]).shape == (3, 10)
    mlp = build_model("mlp", digits, width=20, depth=2)
    assert [n for n, _ in mlp.named_children()] == ["flatten", "fc1", "relu1", "fc2", "relu2", "out"]
    # 64*20+20 + 20*20+20 + 20*10+10
    assert sum(p.numel() for p in mlp.parameters()) == 1300 + 420 + 210


def test_seed_gives_the_same_weights_and_leaves_the_global_rng(digits):
    state = torch.random.get_rng_state()
    a, b, c = build_model("cnn", digits, seed=3), build_model("cnn", digits, seed=3), build_model("cnn", digits)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_torchvision_model_by_name_offline(digits):
    net = build_model("resnet18", digits)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)  # grey input through to_rgb


def test_unknown_model_names_the_choices(digits):
    with pytest.raises(KeyError, match="did you mean.*resnet18.*choose 'cnn', 'mlp'"):
        build_model("resnet81", digits)


def test_pretrained_without_network_is_a_clear_error(monkeypatch, tmp_path):
    import urllib.error

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    from explorer.models import torchvision_model

    with pytest.raises(ConnectionError, match="pretrained=False"):
        torchvision_model("resnet18", pretrained=True)


def test_bad_sizes():
    with pytest.raises(ValueError, match="width >= 1"):
        MLP(64, width=0)


def test_checkpoint_roundtrip_and_refusals(tmp_path):
    a, b = SmallCNN(), SmallCNN()
    save_checkpoint(a, tmp_path / "a.pt", epoch=3)
    assert load_checkpoint(b, tmp_path / "a.pt") == {"epoch": 3}
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # a pickle that would run code is refused by weights_only loading
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    with pytest.raises(ValueError, match="weights-only"):
        load_checkpoint(b, tmp_path / "evil.pt")
    # a checkpoint of another architecture is refused and leaves the model as it was
    before = {k: v.clone() for k, v in b.state_dict().items()}
    save_checkpoint(SmallCNN(width=8), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="does not fit"):
        load_checkpoint(b, tmp_path / "small.pt")
    assert all(torch.equal(v, before[k]) for k, v in b.state_dict().items())
