"""The zoo losses against values computed by hand, literal reference loops, and finite differences."""
import math

import pytest
import torch
import torch.nn.functional as F

from sslkit.losses import barlow_twins_loss, dino_loss, infonce_queue, negative_cosine, sigmoid_pairwise, vicreg_loss


def rand(*shape, seed=0, dtype=torch.float64, grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad)


# ----------------------------------------------------------------------------- negative cosine

def test_negative_cosine_by_hand():
    p = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    z = torch.tensor([[2.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])  # cosines 1, 0, -1
    assert negative_cosine(p, z).item() == pytest.approx(-(1 + 0 - 1) / 3)
    assert negative_cosine(p, p).item() == pytest.approx(-1.0)


def test_negative_cosine_gradcheck_and_stop_gradient_is_the_callers():
    p, z = rand(5, 4, seed=1, grad=True), rand(5, 4, seed=2, grad=True)
    assert torch.autograd.gradcheck(negative_cosine, (p, z))
    negative_cosine(p, z.detach()).backward()
    assert p.grad is not None and z.grad is None


def test_negative_cosine_keeps_float64_and_widens_bfloat16():
    assert negative_cosine(rand(3, 2), rand(3, 2, seed=1)).dtype == torch.float64
    assert negative_cosine(rand(3, 2).bfloat16(), rand(3, 2, seed=1).bfloat16()).dtype == torch.float32


# ----------------------------------------------------------------------------- Barlow Twins

def reference_barlow(z1, z2, lambd):
    """Zbontar et al. Eq. (1)-(2) as loops over the D x D correlation matrix."""
    n, d = z1.shape
    a = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + 1e-5)
    b = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + 1e-5)
    total = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(a[k, i] * b[k, j] for k in range(n)) / n
            total = total + ((1 - c) ** 2 if i == j else lambd * c ** 2)
    return total


def test_barlow_twins_by_hand():
    # Standardised columns are +-1: C = [[1, -1], [1, -1]] (up to the 1e-5 eps):
    # on-diagonal (1 - 1)^2 + (1 + 1)^2 = 4, off-diagonal 1 + 1 = 2.
    z1 = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    z2 = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    assert barlow_twins_loss(z1, z2, lambd=0.5).item() == pytest.approx(4 + 0.5 * 2, rel=1e-4)
    # identical views: diagonal 1, off-diagonal 1 -> only lambd * 2 remains
    assert barlow_twins_loss(z1, z1, lambd=5e-3).item() == pytest.approx(5e-3 * 2, rel=1e-3)


def test_barlow_twins_matches_reference_and_gradcheck():
    z1, z2 = rand(6, 3, seed=3, grad=True), rand(6, 3, seed=4, grad=True)
    assert barlow_twins_loss(z1, z2, 5e-3).item() == pytest.approx(reference_barlow(z1, z2, 5e-3).item(), rel=1e-9)
    assert torch.autograd.gradcheck(lambda a, b: barlow_twins_loss(a, b, 0.1), (z1, z2))


def test_barlow_twins_is_invariant_to_per_feature_scale_and_shift():
    z1, z2 = rand(16, 4, seed=5), rand(16, 4, seed=6)
    scaled = z1 * torch.tensor([1.0, 10.0, 2.0, 3.0], dtype=torch.float64) + 7
    assert barlow_twins_loss(scaled, z2).item() == pytest.approx(barlow_twins_loss(z1, z2).item(), rel=1e-4)


# ----------------------------------------------------------------------------------- VICReg

def test_vicreg_by_hand():
    # z1 = [[1, 0], [-1, 0]], z2 = [[1, 1], [-1, -1]]; unbiased variances: z1 (2, 0), z2 (2, 2).
    z1 = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    z2 = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    invariance = (0 + 1 + 0 + 1) / 4                      # MSE
    v1 = (0 + (1 - math.sqrt(1e-4))) / 2                  # std sqrt(2) > 1 -> 0; std 0 -> 1 - 0.01
    v2 = 0.0
    c1 = 0.0                                              # cov(z1) = [[2, 0], [0, 0]]
    c2 = (2 ** 2 + 2 ** 2) / 2                            # cov(z2) = [[2, 2], [2, 2]], / D
    expected = 25 * invariance + 25 * (v1 + v2) / 2 + 1 * (c1 + c2)
    assert vicreg_loss(z1, z2).item() == pytest.approx(expected, rel=1e-9)
    assert vicreg_loss(z1, z2, sim=1, var=0, cov=0).item() == pytest.approx(invariance)


def test_vicreg_gradcheck_and_collapse_is_penalised():
    z1, z2 = rand(6, 3, seed=7, grad=True), rand(6, 3, seed=8, grad=True)
    assert torch.autograd.gradcheck(vicreg_loss, (z1, z2))
    same = torch.ones(8, 4, dtype=torch.float64)
    # a collapsed embedding is perfectly invariant but pays the whole variance term: 25 * (1 - 0.01)
    assert vicreg_loss(same, same).item() == pytest.approx(25 * (1 - 0.01), rel=1e-9)


# ------------------------------------------------------------------------------ MoCo / queue

def reference_infonce_queue(q, k, queue, t):
    total = 0.0
    for i in range(len(q)):
        u, pos = F.normalize(q[i], dim=0), F.normalize(k[i], dim=0)
        negs = [F.normalize(r, dim=0) for r in queue]
        num = torch.exp(u @ pos / t)
        den = num + sum(torch.exp(u @ v / t) for v in negs)
        total = total - torch.log(num / den)
    return total / len(q)


def test_infonce_queue_by_hand():
    q = torch.tensor([[2.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    queue = torch.tensor([[0.0, 3.0], [-1.0, 0.0]])  # cosines: positive 1, negatives 0 and -1
    expected = -math.log(math.e / (math.e + 1 + math.exp(-1)))
    assert infonce_queue(q, k, queue, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)


def test_infonce_queue_reference_gradcheck_and_queue_is_constant():
    q, k = rand(4, 3, seed=9, grad=True), rand(4, 3, seed=10, grad=True)
    queue = rand(7, 3, seed=11, grad=True)
    ours = infonce_queue(q, k, queue, 0.2)
    assert ours.item() == pytest.approx(reference_infonce_queue(q, k, queue, 0.2).item(), rel=1e-9)
    assert torch.autograd.gradcheck(lambda a, b: infonce_queue(a, b, queue, 0.2), (q, k))
    ours.backward()
    assert queue.grad is None  # negatives from the queue are constants


def test_infonce_queue_random_is_log_k_plus_1():
    q, k, queue = rand(64, 256, seed=12), rand(64, 256, seed=13), rand(255, 256, seed=14)
    assert infonce_queue(q, k, queue, temperature=1.0).item() == pytest.approx(math.log(256), rel=0.02)


# ------------------------------------------------------------------------- pairwise sigmoid

def test_sigmoid_pairwise_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # logits = t * I + b with t = 1, b = 0: positives log sigmoid(1), negatives log sigmoid(-0) = -log 2
    expected = (2 * -math.log(1 / (1 + math.exp(-1))) + 2 * math.log(2)) / 2
    assert sigmoid_pairwise(z, z, t=1.0, b=0.0).item() == pytest.approx(expected, rel=1e-6)


def test_sigmoid_pairwise_gradcheck_through_t_and_b():
    z1, z2 = rand(4, 3, seed=15, grad=True), rand(4, 3, seed=16, grad=True)
    t = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-10.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sigmoid_pairwise, (z1, z2, t, b))


def test_sigmoid_pairwise_negatives_make_collapse_costly():
    # With the negative pairs, a collapsed batch (every row the same) costs more than an
    # orthonormal one; with positives only (the mistake) it would be the optimum.
    eye = torch.eye(8)
    collapsed = torch.ones(8, 8)
    assert sigmoid_pairwise(eye, eye).item() < sigmoid_pairwise(collapsed, collapsed).item()
    diag_only = lambda z: -F.logsigmoid(10 * (F.normalize(z) * F.normalize(z)).sum(1) - 10).sum() / len(z)  # noqa: E731
    assert diag_only(collapsed).item() == pytest.approx(diag_only(eye).item())


# ----------------------------------------------------------------------------------- DINO

def reference_dino(student, teacher, center, ts, tt):
    """Caron et al. Eq. (3) / Algorithm 1 as loops: every global view g of the teacher against every other
    view v of the student, cross-entropy per image, averaged over images and pairs."""
    total, pairs = 0.0, 0
    for g, t in enumerate(teacher):
        for v, s in enumerate(student):
            if v == g:
                continue
            for i in range(len(t)):
                p = [math.exp((t[i, k] - center[k]) / tt) for k in range(len(center))]
                z = sum(p)
                log_q = torch.log_softmax(s[i] / ts, 0)
                total = total - sum(p[k] / z * log_q[k] for k in range(len(center)))
            pairs += 1
    return total / (pairs * len(teacher[0]))


def test_dino_loss_matches_the_reference_loop_and_gradcheck():
    student = [rand(3, 5, seed=s, grad=True) for s in range(4)]  # 2 global + 2 local views, K = 5
    teacher = [rand(3, 5, seed=10 + s) for s in range(2)]
    center = rand(5, seed=20)
    got = dino_loss(student, teacher, center, 0.1, 0.04)
    want = reference_dino([s.detach() for s in student], teacher, center.tolist(), 0.1, 0.04)
    assert got.item() == pytest.approx(float(want), rel=1e-9)
    assert torch.autograd.gradcheck(lambda *s: dino_loss(s, teacher, center, 0.1, 0.04), tuple(student))


def test_dino_loss_gives_no_gradient_to_the_teacher_and_its_minimum_is_the_teacher_entropy():
    teacher = [rand(4, 6, seed=1, grad=True), rand(4, 6, seed=2, grad=True)]
    center = torch.zeros(6, dtype=torch.float64)
    targets = [torch.softmax(t.detach() / 0.04, 1) for t in teacher]
    # a student that outputs exactly the other global view's distribution pays only that entropy
    student = [(0.1 * torch.log(targets[1])).requires_grad_(), (0.1 * torch.log(targets[0])).requires_grad_()]
    loss = dino_loss(student, teacher, center, 0.1, 0.04)
    entropy = sum(-(p * p.log()).sum(1).mean() for p in targets) / 2
    assert loss.item() == pytest.approx(entropy.item(), rel=1e-6)
    loss.backward()
    assert all(t.grad is None for t in teacher)


# ----------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("call,exc,msg", [
    (lambda: negative_cosine(torch.zeros(3, 2), torch.zeros(3, 4)), ValueError, r"\(N, D\)"),
    (lambda: negative_cosine([1.0], torch.zeros(1, 1)), TypeError, "tensors"),
    (lambda: negative_cosine(torch.zeros(0, 2), torch.zeros(0, 2)), ValueError, "at least 1"),
    (lambda: barlow_twins_loss(torch.zeros(1, 3), torch.zeros(1, 3)), ValueError, "at least 2"),
    (lambda: barlow_twins_loss(torch.zeros(4, 3), torch.zeros(4, 3), lambd=-1), ValueError, "lambd must be >= 0"),
    (lambda: barlow_twins_loss(torch.zeros(4, 3), torch.zeros(4, 3), lambd="x"), ValueError, "lambd must be a finite number"),
    (lambda: vicreg_loss(torch.zeros(4, 3), torch.zeros(4, 2)), ValueError, "same shape|shape"),
    (lambda: vicreg_loss(torch.zeros(4, 3), torch.zeros(4, 3), sim=-1), ValueError, "sim must be >= 0"),
    (lambda: vicreg_loss(torch.zeros(4, 3), torch.zeros(4, 3), eps=0), ValueError, "eps must be > 0"),
    (lambda: infonce_queue(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(5, 4)), ValueError,
     r"queue must have shape \(K, D\)"),
    (lambda: infonce_queue(torch.zeros(2, 3), torch.zeros(3, 3), torch.zeros(5, 3)), ValueError, "q and k"),
    (lambda: infonce_queue(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(5, 3), 0), ValueError,
     "temperature must be > 0"),
    (lambda: sigmoid_pairwise(torch.zeros(4, 3), torch.zeros(4, 3), t=0), ValueError, "t .*must be > 0"),
    (lambda: sigmoid_pairwise(torch.zeros(4, 3), torch.zeros(4, 3), t=torch.ones(2)), ValueError, "one element"),
    (lambda: sigmoid_pairwise(torch.zeros(4, 3), torch.zeros(4, 3), b="0"), ValueError, "b must be a finite number"),
    (lambda: dino_loss([torch.zeros(2, 3)], [torch.zeros(2, 3)], torch.zeros(3)), ValueError, "at least 2 student"),
    (lambda: dino_loss([torch.zeros(2, 3)] * 2, [torch.zeros(2, 4)], torch.zeros(3)), ValueError, "same shape"),
    (lambda: dino_loss([torch.zeros(2, 3)] * 2, [torch.zeros(2, 3)], torch.zeros(4)), ValueError, "K = 3"),
    (lambda: dino_loss([torch.zeros(2, 3)] * 2, [torch.zeros(2, 3)], torch.zeros(3), 0.1, 0), ValueError,
     "teacher_temp must be > 0"),
])
def test_invalid_arguments(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()
