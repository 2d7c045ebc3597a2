"""Self-supervised losses.

    loss = nt_xent(z1, z2, temperature=0.5)        # SimCLR; z1, z2: (N, D) projections of two views
    loss = infonce_queue(q, k, queue, 0.2)         # MoCo: queries, positive keys, (K, D) queue of negatives
    loss = negative_cosine(p, z.detach())          # SimSiam / BYOL (stop-gradient by the caller)
    loss = barlow_twins_loss(z1, z2, lambd=5e-3)   # Barlow Twins: cross-correlation -> identity
    loss = vicreg_loss(z1, z2, 25, 25, 1)          # VICReg: invariance + variance + covariance
    loss = sigmoid_pairwise(z1, z2, t=10, b=-10)   # SigLIP: one binary classification per pair
    loss = dino_loss(student, teacher, center)     # DINO: teacher's centred, sharpened softmax as targets

Each docstring states the shapes, the formula and the paper. Each loss validates its arguments
and says what was wrong. The zoo losses compute in float32 at least (half and bfloat16 inputs
from autocast are promoted; float64 stays float64, so ``torch.autograd.gradcheck`` applies).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from sslkit import distributed
from sslkit.checks import check_number


def _check_pair(z1: torch.Tensor, z2: torch.Tensor) -> None:
    if not (isinstance(z1, torch.Tensor) and isinstance(z2, torch.Tensor)):
        raise TypeError(f"z1 and z2 must be tensors, got {type(z1).__name__} and {type(z2).__name__}")
    if z1.dim() != 2 or z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must both have shape (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.shape[0] < 2:
        raise ValueError(f"need at least 2 pairs (negatives come from the batch), got N={z1.shape[0]}")


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5,
            gather_distributed: bool = False) -> torch.Tensor:
    """NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (an InfoNCE loss).

    Shapes: z1, z2 (N, D), row i of z1 and row i of z2 are two views of the same image.
    The 2N vectors are L2-normalized, u = z / ||z||. For anchor a with positive p(a) (its other view):

        l(a) = -log  exp(u_a . u_p(a) / t) / sum_{k != a} exp(u_a . u_k / t)

    the denominator runs over the positive and the 2N-2 other views (negatives). The loss is the
    mean of l(a) over all 2N anchors. Its minimum is 0; for random embeddings it is about log(2N-1).

    ``gather_distributed``: in data-parallel training (W processes, each with its own n pairs), the
    anchors of this rank are contrasted with the views of ALL ranks (2Wn - 2 negatives each), as
    one process would with the global batch; the views are gathered with their gradient
    (:func:`sslkit.distributed.gather`) and the mean over ranks of the returned losses is the
    global loss. No effect without a process group.

    Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020, Eq. (1); InfoNCE: van den Oord et al. 2018.
    """
    _check_pair(z1, z2)
    check_number("temperature", temperature, 0.0, low_open=True)
    n = z1.shape[0]
    u = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    if gather_distributed and distributed.world_size() > 1:
        return _nt_xent_gathered(u[:n], u[n:], temperature)
    logits = u @ u.T / temperature
    logits.fill_diagonal_(float("-inf"))  # an anchor is never its own negative
    i = torch.arange(2 * n, device=z1.device)  # built on the device: no host->device copy, no sync
    targets = (i + n) % (2 * n)
    return F.cross_entropy(logits, targets)


def _nt_xent_gathered(u1: torch.Tensor, u2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent of this rank's 2n anchors against the 2Wn views of all W ranks (normalised u1, u2: (n, D)).

    Columns are [first views of ranks 0..W-1, second views of ranks 0..W-1], the single-process
    layout of the global batch; this rank's pair i sits at global row r n + i.
    """
    n, w, r = len(u1), distributed.world_size(), distributed.rank()
    everyone = torch.cat([distributed.gather(u1), distributed.gather(u2)])  # (2Wn, D)
    logits = torch.cat([u1, u2]) @ everyone.T / temperature  # (2n, 2Wn)
    i = r * n + torch.arange(n, device=u1.device)
    own = torch.cat([i, w * n + i])                 # each anchor's own column
    targets = torch.cat([w * n + i, i])             # its other view
    logits[torch.arange(2 * n, device=u1.device), own] = float("-inf")
    return F.cross_entropy(logits, targets)


# ---------------------------------------------------------------------------------------------
# The rest of the zoo: non-contrastive (negative cosine, Barlow Twins, VICReg), MoCo's queue
# InfoNCE, and the pairwise sigmoid loss.


def _wide(x: torch.Tensor) -> torch.Tensor:
    """float16 / bfloat16 (autocast) -> float32; float32 and float64 unchanged."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean negative cosine similarity, the loss of SimSiam and BYOL.

    Shapes: p, z (N, D); row i of p (a prediction of one view) is compared with row i of z
    (the projection of the other view):

        L = -(1/N) sum_i  p_i . z_i / (||p_i|| ||z_i||)          in [-1, 1]

    BYOL writes it as the mean squared distance of the normalised vectors, 2 - 2 cos = 2 + 2 L.
    The stop-gradient is NOT applied here: the caller passes ``z.detach()`` (SimSiam) or the
    output of a target network run under ``torch.no_grad()`` (BYOL), so that a test can switch
    it off and watch the representation collapse.

    Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, Eq. (1)-(2);
    Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, Eq. (2).
    """
    if not (isinstance(p, torch.Tensor) and isinstance(z, torch.Tensor)):
        raise TypeError(f"p and z must be tensors, got {type(p).__name__} and {type(z).__name__}")
    if p.dim() != 2 or p.shape != z.shape:
        raise ValueError(f"p and z must both have shape (N, D), got {tuple(p.shape)} and {tuple(z.shape)}")
    if p.shape[0] < 1:
        raise ValueError("need at least 1 pair, got N=0")
    return -F.cosine_similarity(_wide(p), _wide(z), dim=1, eps=1e-8).mean()


def _standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Each column to zero mean, unit (biased) variance over the batch: BatchNorm1d(affine=False) in train mode."""
    return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)


def _off_diagonal(m: torch.Tensor) -> torch.Tensor:
    d = m.shape[0]
    return m.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 5e-3,
                      gather_distributed: bool = False) -> torch.Tensor:
    """Barlow Twins redundancy-reduction loss.

    Shapes: z1, z2 (N, D), two views' projections, N >= 2. Each column is standardised over the
    batch (mean 0, biased std 1, as a BatchNorm without affine; eps 1e-5 inside the sqrt), then
    the D x D cross-correlation matrix C = z1n^T z2n / N is pushed towards the identity:

        L = sum_i (1 - C_ii)^2  +  lambd * sum_i sum_{j != i} C_ij^2

    The first term makes each feature invariant to the augmentation, the second decorrelates
    the features (no two carry the same information), which is what prevents collapse. L >= 0;
    0 needs perfectly correlated views and decorrelated features. The scale grows with D, so
    the learning rate depends on the projector width (the paper uses LARS).

    ``gather_distributed``: in data-parallel training the statistics and C are computed over the
    global batch (the rows of all ranks, gathered with their gradient); every rank returns the
    same global loss. No effect without a process group.

    Zbontar, Jing, Misra, LeCun, Deny, "Barlow Twins: Self-Supervised Learning via Redundancy
    Reduction", ICML 2021, Eq. (1)-(2); lambd = 5e-3 (0.0051 in the official code).
    """
    _check_pair(z1, z2)
    lambd = check_number("lambd", lambd, 0.0)
    if gather_distributed:
        z1, z2 = distributed.gather(z1), distributed.gather(z2)
    n = z1.shape[0]
    c = _standardize(_wide(z1)).T @ _standardize(_wide(z2)) / n
    on_diag = (torch.diagonal(c) - 1).pow(2).sum()
    return on_diag + lambd * _off_diagonal(c).pow(2).sum()


def vicreg_loss(z1: torch.Tensor, z2: torch.Tensor, sim: float = 25.0, var: float = 25.0, cov: float = 1.0,
                eps: float = 1e-4, gather_distributed: bool = False) -> torch.Tensor:
    """VICReg: variance-invariance-covariance regularisation.

    Shapes: z1, z2 (N, D), N >= 2. With Var the unbiased variance over the batch and
    C(Z) = (Z - mean Z)^T (Z - mean Z) / (N - 1) the covariance matrix,

        s(Z, Z') = (1/(N D)) sum_{n,d} (z_nd - z'_nd)^2                     invariance (MSE)
        v(Z)     = (1/D) sum_d max(0, 1 - sqrt(Var(z_d) + eps))              variance (hinge on std)
        c(Z)     = (1/D) sum_{i != j} C(Z)_ij^2                              covariance
        L = sim * s(Z, Z') + var * (v(Z) + v(Z')) / 2 + cov * (c(Z) + c(Z'))

    The variance term keeps every dimension's std at 1 or more (no collapse to a point), the
    covariance term decorrelates dimensions (no collapse to a line). The /2 on the variance term
    follows the official code (and lightly/solo-learn); the paper's Eq. (6) has no /2.

    ``gather_distributed``: in data-parallel training all three terms are computed over the global
    batch (the rows of all ranks, gathered with their gradient), as the official code does for the
    variance and covariance; every rank returns the same global loss. No effect without a process group.

    Bardes, Ponce, LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
    Self-Supervised Learning", ICLR 2022, Eq. (1)-(6); sim = var = 25, cov = 1, eps = 1e-4.
    """
    _check_pair(z1, z2)
    sim, var, cov = (check_number(what, v, 0.0) for what, v in (("sim", sim), ("var", var), ("cov", cov)))
    eps = check_number("eps", eps, 0.0, low_open=True)
    if gather_distributed:
        z1, z2 = distributed.gather(z1), distributed.gather(z2)
    z1, z2 = _wide(z1), _wide(z2)
    n, d = z1.shape
    invariance = F.mse_loss(z1, z2)

    def variance(z):
        return F.relu(1 - torch.sqrt(z.var(0) + eps)).mean()

    def covariance(z):
        zc = z - z.mean(0)
        return _off_diagonal(zc.T @ zc / (n - 1)).pow(2).sum() / d

    return (sim * invariance + var * (variance(z1) + variance(z2)) / 2
            + cov * (covariance(z1) + covariance(z2)))


def infonce_queue(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """InfoNCE with a queue of negatives, the loss of MoCo.

    Shapes: q (N, D) queries, k (N, D) their positive keys (row i of k is the other view of
    row i of q, from the momentum encoder), queue (K, D) negative keys from earlier batches.
    All vectors are L2-normalised, u = x / ||x||. For query i:

        l_i = -log  exp(q_i . k_i / t) / ( exp(q_i . k_i / t) + sum_{j=1..K} exp(q_i . queue_j / t) )

    and the loss is the mean over the N queries: a (K+1)-way classification with the positive
    at index 0. For random embeddings it is about log(K + 1). Gradients flow into q (and into k
    unless the caller detaches it; MoCo's keys come from a no-grad momentum encoder); the queue
    is treated as constants.

    He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation
    Learning", CVPR 2020, Eq. (1) and Algorithm 1; MoCo v2 (Chen et al. 2020): t = 0.2.
    """
    if not (isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor) and isinstance(queue, torch.Tensor)):
        raise TypeError("q, k and queue must be tensors")
    if q.dim() != 2 or q.shape != k.shape or q.shape[0] < 1:
        raise ValueError(f"q and k must both have shape (N, D) with N >= 1, got {tuple(q.shape)} and {tuple(k.shape)}")
    if queue.dim() != 2 or queue.shape[1] != q.shape[1] or queue.shape[0] < 1:
        raise ValueError(f"queue must have shape (K, D) with K >= 1 and D = {q.shape[1]} (the queries' D), "
                         f"got {tuple(queue.shape)}")
    temperature = check_number("temperature", temperature, 0.0, low_open=True)
    q, k = F.normalize(_wide(q), dim=1), F.normalize(_wide(k), dim=1)
    neg = F.normalize(_wide(queue.detach()).to(q.dtype), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ neg.T], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def sigmoid_pairwise(z1: torch.Tensor, z2: torch.Tensor, t=10.0, b=-10.0) -> torch.Tensor:
    """Pairwise sigmoid loss of SigLIP: every pair is a binary classification, positives AND negatives.

    Shapes: z1, z2 (N, D); row i of z1 and row i of z2 form the positive pair (label y_ij = +1
    for i = j), every other pair (i, j != i) is a negative (y_ij = -1). With u = z1 / ||z1||,
    v = z2 / ||z2|| and logits l_ij = t * u_i . v_j + b,

        L = -(1/N) sum_i sum_j log sigmoid(y_ij * l_ij)

    i.e. the binary cross-entropy summed over all N^2 pairs and divided by the batch size N
    (as in the paper's Algorithm 1; not the mean over N^2 pairs). Both the positive term (pull
    the pair together) and the N^2 - N negative terms (push the others apart) are kept;
    dropping the negatives is the classic mistake, which makes "everything maps to one point"
    a minimum. ``t`` (> 0, the inverse
    temperature) and ``b`` (the bias) may be Python numbers or learnable 0-d tensors; SigLIP
    learns t = exp(t') with t' = log 10 and b = -10 at initialisation, which offsets the
    imbalance of N - 1 negatives per positive.

    Zhai, Mustafa, Kolesnikov, Beyer, "Sigmoid Loss for Language Image Pre-Training",
    ICCV 2023, Algorithm 1.
    """
    _check_pair(z1, z2)
    for what, value in (("t", t), ("b", b)):
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"{what} must be a number or a tensor with one element, "
                                 f"got shape {tuple(value.shape)}")
        else:
            check_number(what, value)
    if not isinstance(t, torch.Tensor) and not t > 0:
        raise ValueError(f"t (the inverse temperature) must be > 0, got {t!r}")
    n = z1.shape[0]
    u, v = F.normalize(_wide(z1), dim=1), F.normalize(_wide(z2), dim=1)
    logits = t * (u @ v.T) + b
    labels = 2 * torch.eye(n, device=logits.device, dtype=logits.dtype) - 1
    return -F.logsigmoid(labels * logits).sum() / n


def dino_loss(student, teacher, center: torch.Tensor, student_temp: float = 0.1,
              teacher_temp: float = 0.04) -> torch.Tensor:
    """DINO's self-distillation loss: the student matches the teacher's distribution over K prototypes.

    Shapes: ``student`` V tensors (N, K), the student's logits for every view, the G global views
    first; ``teacher`` G tensors (N, K), the teacher's logits for the global views; ``center`` (K,)
    or (1, K). With P_t(g) = softmax((t_g - center) / teacher_temp) (no gradient) and
    log P_s(v) = log_softmax(s_v / student_temp),

        L = 1 / (G V - G) * sum_{g < G} sum_{v != g}  mean_n ( - sum_k P_t(g)_nk log P_s(v)_nk )

    every view of the student predicts every OTHER global view of the teacher (so local crops learn
    to predict the whole image). Centring (subtracting a running mean of the teacher's logits) stops
    one prototype from winning every image; sharpening (teacher_temp < student_temp) stops the
    output from going uniform; together they prevent collapse (paper, Sec. 3.1 and Fig. 7). The
    minimum is the teacher's entropy, not 0.

    Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021, Eq. (3)
    and Algorithm 1; temperatures 0.1 / 0.04 (paper).
    """
    student, teacher = list(student), list(teacher)
    if not student or not teacher or not all(isinstance(t, torch.Tensor) for t in student + teacher):
        raise TypeError("student and teacher must be non-empty sequences of tensors")
    shape = teacher[0].shape
    if len(shape) != 2 or any(t.shape != shape for t in student + teacher):
        raise ValueError(f"every student and teacher output must have the same shape (N, K), got "
                         f"{[tuple(t.shape) for t in student]} and {[tuple(t.shape) for t in teacher]}")
    if len(student) < 2 or len(teacher) > len(student):
        raise ValueError(f"need at least 2 student views and at most as many teacher (global) views, got "
                         f"{len(student)} and {len(teacher)}")
    if center.numel() != shape[1]:
        raise ValueError(f"center must have K = {shape[1]} entries, got shape {tuple(center.shape)}")
    student_temp = check_number("student_temp", student_temp, 0.0, low_open=True)
    teacher_temp = check_number("teacher_temp", teacher_temp, 0.0, low_open=True)
    g, v = len(teacher), len(student)
    with torch.no_grad():
        targets = torch.stack([F.softmax((_wide(t) - center.reshape(1, -1)) / teacher_temp, dim=1) for t in teacher])
    log_p = torch.stack([F.log_softmax(_wide(s) / student_temp, dim=1) for s in student])
    cross = -torch.einsum("gnk,vnk->gv", targets, log_p) / shape[0]  # (G, V): mean over the batch
    # a global view does not predict itself: drop the diagonal (arithmetic, no mask: no host sync on GPU)
    return (cross.sum() - cross[:, :g].diagonal().sum()) / (g * v - g)
