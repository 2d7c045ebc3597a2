import math

import pytest
import torch
import torch.nn.functional as F

from sslkit.losses import nt_xent


def reference_nt_xent(z1, z2, t):
    """Literal transcription of SimCLR Eq. (1): a Python loop over the 2N anchors."""
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    total = 0.0
    for a in range(2 * n):
        p = (a + n) % (2 * n)
        num = torch.exp(u[a] @ u[p] / t)
        den = sum(torch.exp(u[a] @ u[k] / t) for k in range(2 * n) if k != a)
        total = total - torch.log(num / den)
    return total / (2 * n)


def test_matches_hand_computed_value():
    # Two orthogonal pairs of identical views: cos(pos)=1, cos(neg)=0 for the two negatives.
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = z1.clone()
    t = 0.5
    expected = -math.log(math.exp(2) / (math.exp(2) + 2 * math.exp(0)))
    assert nt_xent(z1, z2, t).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_matches_reference_loop(t):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert nt_xent(z1, z2, t).item() == pytest.approx(reference_nt_xent(z1, z2, t).item(), rel=1e-5)


def test_gradient_matches_reference_and_finite_differences():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    # gradcheck compares autograd with finite differences (nt_xent computes in float32 -> use the reference).
    assert torch.autograd.gradcheck(lambda a, b: reference_nt_xent(a, b, 0.5), (z1, z2))
    ours = torch.autograd.grad(nt_xent(z1.float(), z2.float(), 0.5), [z1, z2])
    ref = torch.autograd.grad(reference_nt_xent(z1, z2, 0.5), [z1, z2])
    for a, b in zip(ours, ref):
        assert torch.allclose(a.double(), b, atol=1e-5)


def test_random_embeddings_near_log_2n_minus_1_and_aligned_views_lower():
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(256, 128, generator=g), torch.randn(256, 128, generator=g)
    assert nt_xent(z1, z2, 1.0).item() == pytest.approx(math.log(511), rel=0.02)
    assert nt_xent(z1, z1 + 0.01 * z2, 0.5).item() < nt_xent(z1, z2, 0.5).item() - 1


def test_scale_invariant():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    assert nt_xent(z1, z2).item() == pytest.approx(nt_xent(7 * z1, 0.1 * z2).item(), rel=1e-5)


@pytest.mark.parametrize("z1,z2,t,msg", [
    (torch.zeros(4, 3), torch.zeros(5, 3), 0.5, "same shape|shape"),
    (torch.zeros(4), torch.zeros(4), 0.5, r"\(N, D\)"),
    (torch.zeros(1, 3), torch.zeros(1, 3), 0.5, "at least 2"),
    (torch.randn(4, 3), torch.randn(4, 3), 0.0, "temperature"),
    (torch.randn(4, 3), torch.randn(4, 3), -1.0, "temperature"),
])
def test_invalid_arguments(z1, z2, t, msg):
    with pytest.raises(ValueError, match=msg):
        nt_xent(z1, z2, t)
