"""Pretext tasks: learn features by solving a made-up supervised problem on unlabelled images.

| name              | task                                                      | paper                      |
|-------------------|-----------------------------------------------------------|----------------------------|
| rotation          | which of 0/90/180/270 degrees was the image rotated by    | Gidaris et al., ICLR 2018  |
| relative-position | where is this patch relative to the centre patch (8-way)  | Doersch et al., ICCV 2015  |
| mae               | reconstruct the masked 4x4 patches of an image            | He et al. 2022; Pathak 2016|
| dcgan             | tell real images from a generator's (the critic's trunk)  | Radford et al., ICLR 2016  |

The same interface as the joint-embedding methods (``loss = method(*views)``), with what they need
from the loop declared on the class: milder views than SimCLR's (``augment_overrides``: the
rotation task is about geometry, and heavy crops would remove its cues), one view for the GAN
(``n_views``), and the step's seeded generator for masks and noise (``needs_generator``), so a
resumed run draws the same numbers. At scale the literature found their features fit the pretext
task more than the downstream classes; on a small budget they can be competitive.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from sslkit.checks import check_number, check_positive
from sslkit.methods.base import Method, features_of
from sslkit.models import ProjectionHead


def _image_geometry(cfg) -> dict:
    """The size and channels of the views the method will see, and the normalisation constants."""
    spec = cfg.spec()
    return {"image_size": spec.size, "channels": spec.channels, "mean": spec.mean, "std": spec.std}


class Rotation(Method):
    """Rotation prediction, RotNet (Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by
    Predicting Image Rotations", ICLR 2018).

    Each view is rotated by r in {0, 90, 180, 270} degrees and a classifier c (an MLP on the
    encoder's features) predicts r: loss = cross_entropy(c(f(rot_r(x))), r), 4 classes (chance:
    log 4 = 1.386). Recognising "upright" needs the object's shape and parts, which is the
    point. Both views are used, view 1 of image i rotated by i mod 4 and view 2 by (i + 2) mod 4
    (the batch order is random, so this is a random but fixed assignment: no extra randomness,
    exact resume, and every rotation is equally frequent); RotNet feeds all 4 rotations of each
    image, which costs twice the compute of two views.

    Augmentation: mild (crop scale 0.6-1, flip, no colour jitter): the task is geometric, and an
    8 % crop of a shirt has no "up".

    Defaults: the paper's classifier is conv blocks + linear on a NIN; here an MLP
    feat-proj_hidden-4 (512 in quick). The paper's CIFAR setting: SGD lr 0.1, momentum 0.9, wd 5e-4,
    128 images x 4 rotations a step, 100 epochs with lr steps; the full recipe (ResNet-18): the same
    optimiser with batch 256 x 2 views (the same 512 inputs a step), the profile's 200 epochs with
    warm-up and cosine. The paper reports about 89 % on CIFAR-10 with a non-linear classifier on the
    2nd conv block of a 4-block NIN; features of the last block are clearly worse (they specialise to
    rotation), so no kNN target is claimed for the last-layer features evaluated here.
    """

    name, display_name, family = "rotation", "Rotation", "pretext"
    paper = "Gidaris, Singh, Komodakis, Unsupervised Representation Learning by Predicting Image Rotations, ICLR 2018"
    HPARAMS = ("proj_hidden",)
    full_recipe = dict(batch_size=256, lr=0.1)
    recipe_source = "RotNet's CIFAR optimiser (SGD lr 0.1, 128 images x 4 rotations = 512 inputs a step)"
    augment_overrides = dict(crop_scale=(0.6, 1.0), jitter_p=0.0)

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512):
        super().__init__(encoder)
        self.head = ProjectionHead(features_of(encoder), proj_hidden, 4)

    @staticmethod
    def rotate(x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(rotated views (2N, C, H, W), labels (2N,)): view 1 of image i by (i mod 4) x 90 degrees,
        view 2 by ((i + 2) mod 4) x 90 degrees; the output is grouped by rotation (no sync, no randomness)."""
        if x1.shape[-1] != x1.shape[-2]:
            raise ValueError(f"rotation needs square views, got {tuple(x1.shape[-2:])}")
        parts, labels = [], []
        for view, shift in ((x1, 0), (x2, 2)):
            for r in range(4):
                chunk = view[r::4]
                k = (r + shift) % 4
                parts.append(torch.rot90(chunk, k, dims=(2, 3)))
                labels.append(torch.full((len(chunk),), k, dtype=torch.long, device=view.device))
        return torch.cat(parts), torch.cat(labels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x, y = self.rotate(x1, x2)
        return F.cross_entropy(self.head(self.encoder(x)).float(), y)


class RelativePosition(Method):
    """Relative patch position (Doersch, Gupta, Efros, "Unsupervised Visual Representation Learning by
    Context Prediction", ICCV 2015).

    Each view is cut into a 3 x 3 grid of p x p patches separated by gaps of g pixels (the gap
    stops the network from just continuing edges across the border). The encoder embeds the
    centre patch and one neighbour, and a classifier on the pair [f(centre), f(neighbour)]
    predicts which of the 8 positions the neighbour came from:

        loss = cross_entropy(c([f(P_centre), f(P_k)]), k),   k in 0..7 (chance: log 8 = 2.079)

    One pair per view, as in the paper: view 1 of image i uses neighbour i mod 8, view 2 uses
    (i + 4) mod 8 (a random but fixed assignment, the batch order being random; no extra
    randomness, exact resume, every position equally frequent).

    Geometry: g = max(1, S // 14), p = (S - 2g) // 3 for S x S views: 28 -> 8 px patches with a
    2 px gap, 32 -> 9 / 2, 96 -> 28 / 6 (the paper: 96 px patches, 48 px gaps, plus up to 7 px
    of jitter; the random crops of the views play that role here). Patches are upsampled to
    ``patch_resize`` px (default: the view size S) before the encoder, so that it is trained at
    the scale it is evaluated at (then 4N encoder inputs per step, twice a two-view method);
    ``patch_resize=0`` encodes them at p x p (much cheaper, but BatchNorm statistics and
    receptive fields then differ between training and evaluation).

    Augmentation: crop scale 0.6-1 (the grid must cover the object), flip, the usual jitter.

    Defaults: classifier MLP 2 feat - proj_hidden - 8. Full recipe (CIFAR-10, ResNet-18): RotNet's
    optimiser, SGD lr 0.1, momentum 0.9, wd 5e-4, batch 256, the profile's 200 epochs; no published
    CIFAR kNN reference (the paper is ImageNet + detection fine-tuning), so it is a baseline.
    """

    name, display_name, family = "relative-position", "Relative position", "pretext"
    paper = "Doersch, Gupta, Efros, Unsupervised Visual Representation Learning by Context Prediction, ICCV 2015"
    HPARAMS = ("proj_hidden",)
    full_recipe = dict(batch_size=256, lr=0.1)
    recipe_source = "RotNet's CIFAR optimiser (the paper trains on ImageNet; no CIFAR recipe to match)"
    augment_overrides = dict(crop_scale=(0.6, 1.0))
    NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)  # grid cells in reading order, 4 is the centre

    def __init__(self, encoder: nn.Module, proj_hidden: int = 512, patch_resize: int | None = None):
        super().__init__(encoder)
        if patch_resize is not None:
            check_positive("patch_resize", patch_resize, allow_zero=True)
        self.patch_resize = patch_resize
        self.head = ProjectionHead(2 * features_of(encoder), proj_hidden, 8)

    @staticmethod
    def grid(side: int) -> tuple[int, int]:
        """(patch size p, gap g) of the 3 x 3 grid for S x S views."""
        gap = max(1, side // 14)
        patch = (side - 2 * gap) // 3
        if patch < 2:
            raise ValueError(f"views of {side} px are too small for a 3 x 3 grid of patches (need >= 8 px)")
        return patch, gap

    @classmethod
    def patches(cls, x: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) -> (N, 9, C, p, p): the 3 x 3 grid in reading order (4 is the centre)."""
        side = x.shape[-1]
        p, g = cls.grid(side)
        off = (side - 3 * p - 2 * g) // 2
        return torch.stack([x[..., off + i * (p + g): off + i * (p + g) + p, off + j * (p + g): off + j * (p + g) + p]
                            for i in range(3) for j in range(3)], 1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x1, x2])
        b, n = len(x), len(x1)
        tiles = self.patches(x)                                               # (B, 9, C, p, p)
        i = torch.arange(n, device=x.device)
        labels = torch.cat([i % 8, (i + 4) % 8])                              # neighbour index 0..7
        cells = torch.tensor(self.NEIGHBOURS, device=x.device)[labels]        # grid cell 0..8
        pair = torch.cat([tiles[:, 4], tiles[torch.arange(b, device=x.device), cells]])  # (2B, C, p, p)
        size = x.shape[-1] if self.patch_resize is None else self.patch_resize
        if size and size != pair.shape[-1]:
            pair = F.interpolate(pair, size=(size, size), mode="bilinear", align_corners=False)
        f = self.encoder(pair)
        logits = self.head(torch.cat([f[:b], f[b:]], dim=1)).float()         # (B, 8)
        return F.cross_entropy(logits, labels)


class ConvDecoder(nn.Module):
    """Vector (N, in_dim) -> image (N, channels, size, size), the decoder / generator of the generative tasks.

    Linear to a (4w, s, s) map with s = ceil(size / 4), two (nearest 2x upsampling, 3x3 conv,
    BN, ReLU) stages (4w -> 2w -> w), a 3x3 conv to ``channels``; bilinear resize if size is not
    a multiple of 4. Upsample + conv instead of DCGAN's 4x4 stride-2 transposed convs: no
    checkerboard artefacts for a discriminator to latch onto (Odena et al., Distill 2016) and
    about a quarter of the cost (2-3x the ConvNet encoder of the same width at 28 px).
    """

    def __init__(self, in_dim: int, channels: int, size: int, width: int = 32):
        super().__init__()
        check_positive("size", size)
        check_positive("width", width)
        self.size, self.width = size, width
        self.start = -(-size // 4)
        w, s = width, self.start
        self.fc = nn.Sequential(nn.Linear(in_dim, 4 * w * s * s, bias=False), nn.BatchNorm1d(4 * w * s * s),
                                nn.ReLU(inplace=True))
        self.net = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(4 * w, 2 * w, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, channels, 3, 1, 1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.net(self.fc(h).view(len(h), 4 * self.width, self.start, self.start))
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x


def _default_width(encoder: nn.Module) -> int:
    """Decoder / generator width matched to the encoder: feature_dim / 8 (the ConvNet's own width)."""
    return max(8, features_of(encoder) // 8)


class MaskedAutoencoder(Method):
    """Masked autoencoding with a ConvNet (in the spirit of MAE, He et al., CVPR 2022, and of context
    encoders, Pathak et al., CVPR 2016; a denoising autoencoder, Vincent et al. 2008, with
    masking noise).

    The view is cut into ``patch`` x ``patch`` squares; each is hidden (set to 0, the dataset mean
    after normalisation) with probability ``mask_ratio``. The encoder sees the masked image, a
    decoder rebuilds the image from the encoder's feature vector, and the loss is the mean
    squared error on the hidden pixels only (MAE's choice: reconstructing visible pixels is
    copying):

        m ~ Bernoulli(1 - mask_ratio) per patch;  x_hat = d(f(x * m))
        loss = sum((x_hat - x)^2 * (1 - m)) / sum(1 - m)

    Both views are used as independent samples. The decoder works from the pooled feature
    vector (the representation evaluated downstream), not from a spatial map, so the features
    must describe the whole object. Masks are drawn from the step's generator.

    Defaults: patch 4 (a 7 x 7 grid on 28 px), mask_ratio 0.5 (MAE's 0.75 is for ViTs with
    196 tokens; a ConvNet sees the masked squares as holes, SimMIM/ConvNet papers use 0.5-0.6).
    Augmentation: crop scale 0.5-1, flip, no colour jitter (the target is the pixels).
    Full recipe (CIFAR-10, ResNet-18): MAE's optimiser, AdamW lr 1.5e-4 * 512 / 256,
    betas (0.9, 0.95), wd 0.05, for the profile's 200 epochs (MAE: 800); no published ResNet kNN
    reference, so it is a baseline.
    """

    name, display_name, family = "mae", "Masked autoencoder", "pretext (generative)"
    paper = "He et al., Masked Autoencoders Are Scalable Vision Learners, CVPR 2022; Pathak et al., CVPR 2016"
    HPARAMS = ()
    full_recipe = dict(optimizer="adamw", lr=1.5e-4 * 512 / 256, betas=(0.9, 0.95), weight_decay=0.05)
    recipe_source = "MAE's optimiser (AdamW, lr 1.5e-4 per 256 images, betas (0.9, 0.95), weight decay 0.05)"
    augment_overrides = dict(crop_scale=(0.5, 1.0), jitter_p=0.0)
    needs_generator = True

    def __init__(self, encoder: nn.Module, image_size: int = 28, channels: int = 1, patch: int = 4,
                 mask_ratio: float = 0.5):
        super().__init__(encoder)
        check_positive("image_size", image_size)
        check_positive("patch", patch)
        if image_size % patch:
            raise ValueError(f"image_size={image_size} must be a multiple of patch={patch}")
        mask_ratio = check_number("mask_ratio", mask_ratio, 0.0, 1.0, low_open=True, high_open=True)
        self.image_size, self.patch, self.mask_ratio = image_size, patch, mask_ratio
        self.decoder = ConvDecoder(features_of(encoder), channels, image_size, _default_width(encoder))

    @classmethod
    def config_hparams(cls, cfg) -> dict:
        geo = _image_geometry(cfg)
        return {"image_size": geo["image_size"], "channels": geo["channels"]}

    def mask(self, n: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 1, S, S) float mask: 1 = visible, 0 = hidden, constant on patch x patch squares."""
        g = self.image_size // self.patch
        gen_dev = generator.device if generator is not None else device
        keep = torch.rand(n, 1, g, g, generator=generator, device=gen_dev).to(device) >= self.mask_ratio
        return F.interpolate(keep.float(), scale_factor=self.patch, mode="nearest")

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = torch.cat([x1, x2])
        if x.shape[-1] != self.image_size:
            raise ValueError(f"views are {x.shape[-1]} px but this model was built for {self.image_size} px")
        m = self.mask(len(x), x.device, generator)
        recon = self.decoder(self.encoder(x * m)).float()
        hidden = (1 - m).expand_as(recon)
        return ((recon - x.float()) ** 2 * hidden).sum() / hidden.sum().clamp_min(1)


class Generator(nn.Module):
    """DCGAN generator: z (N, latent_dim) -> image (N, channels, size, size) in [0, 1], then normalised
    with the dataset's mean/std so that fakes live where the real (normalised) views live."""

    def __init__(self, latent_dim: int, channels: int, size: int, mean, std, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.body = ConvDecoder(latent_dim, channels, size, width)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(self.body(z)) - self.mean) / self.std


def _without_param_grads(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """module(x) with the module's parameters treated as constants: gradients reach x only."""
    params = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, params, (x,))


class DCGAN(Method):
    """DCGAN (Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks", ICLR 2016): the discriminator's trunk is the encoder.

    Discriminator D = linear head on the encoder's features; generator G: z ~ N(0, I) ->
    transposed convs -> image. Non-saturating GAN losses (Goodfellow et al. 2014):

        L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)          (G(z) detached: trains D only)
        L_G = BCE(D(G(z)), 1)                          (D's parameters held constant: trains G only)
        loss = L_D + L_G

    One optimiser, one backward: L_D's graph stops at the detached fakes and L_G runs D with
    detached parameters (``torch.func.functional_call``), so each network gets exactly its own
    gradient and the sum is equivalent to simultaneous updates of two optimisers with the same
    settings. This keeps the training loop unchanged and its checkpoints exact (one optimiser
    state), at the cost of DCGAN's alternating order (D then G); G and D share Adam's settings, as
    in the paper.
    The reported loss is L_D + L_G (2 log 2 + log 2 = 2.08 at equilibrium); it does not fall
    steadily as for other methods; :attr:`last_losses` holds the two parts of the last step.

    Real images: one view (mild augmentation: crop scale 0.8-1, flip, no jitter), N real and N
    generated per step, so D runs three times on N images (real, fake for L_D, fake
    for L_G). Noise: drawn from the step's generator.

    Defaults: latent 64, generator width = the encoder's feature_dim / 8 (DCGAN: 100-d z, Adam
    lr 2e-4, beta1 0.5, batch 128: "leaving the momentum term beta1 at the suggested value of 0.9
    resulted in training oscillation and instability").
    Full recipe (CIFAR-10, ResNet-18 discriminator): the paper's Adam (AdamW with weight decay 0),
    lr 2e-4, betas (0.5, 0.999), batch 128, no warm-up, the profile's 200 epochs; DCGAN's
    discriminator features (trained on ImageNet-1k, all layers max-pooled) reach 82.8 % on
    CIFAR-10 with an L2-SVM (paper, Table 1); no kNN reference.
    """

    name, display_name, family = "dcgan", "DCGAN", "pretext (generative)"
    paper = "Radford, Metz, Chintala, Unsupervised Representation Learning with DCGANs, ICLR 2016"
    HPARAMS = ()
    full_recipe = dict(optimizer="adamw", lr=2e-4, betas=(0.5, 0.999), weight_decay=0.0, batch_size=128,
                       warmup_epochs=0.0)
    recipe_source = "DCGAN's optimiser (Adam lr 2e-4, beta1 0.5, batch 128, no weight decay, no warm-up)"
    n_views = 1  # the critic sees N real and N generated images a step
    augment_overrides = dict(crop_scale=(0.8, 1.0), jitter_p=0.0)
    needs_generator = True

    def __init__(self, encoder: nn.Module, image_size: int = 28, channels: int = 1, mean=(0.0,), std=(1.0,),
                 latent_dim: int = 64, gen_width: int | None = None):
        super().__init__(encoder)
        check_positive("latent_dim", latent_dim)
        gen_width = _default_width(encoder) if gen_width is None else check_positive("gen_width", gen_width)
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean and std need one value per channel ({channels}), got {mean!r} and {std!r}")
        self.disc_head = nn.Linear(features_of(encoder), 1)
        self.generator = Generator(latent_dim, channels, image_size, mean, std, gen_width)
        self.last_losses: dict = {}

    @classmethod
    def config_hparams(cls, cfg) -> dict:
        return _image_geometry(cfg)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's logit (N,): > 0 means "real"."""
        return self.disc_head(self.encoder(x)).squeeze(1).float()

    def sample(self, n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
        """n generated images, normalised like the real views."""
        device = device or self.disc_head.weight.device
        gen_dev = generator.device if generator is not None else device
        z = torch.randn(n, self.generator.latent_dim, generator=generator, device=gen_dev).to(device)
        return self.generator(z)

    def forward(self, real: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        fake = self.sample(len(real), generator, real.device).to(real.dtype)
        if real.is_contiguous(memory_format=torch.channels_last):
            fake = fake.contiguous(memory_format=torch.channels_last)
        ones = torch.ones(len(real), device=real.device)
        d_real = self.discriminate(real)
        d_fake = self.discriminate(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, ones)
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(ones)))
        g_logit = _without_param_grads(self.disc_head, _without_param_grads(self.encoder, fake)).squeeze(1).float()
        loss_g = F.binary_cross_entropy_with_logits(g_logit, ones)
        self.last_losses = {"d": loss_d.detach(), "g": loss_g.detach()}
        return loss_d + loss_g
