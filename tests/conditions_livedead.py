"""An independent renderer of live/dead and sphere-assay images with exact truth.

It shares no code with the package's ``synthetic/`` generator and draws on purpose
differently: cells are slightly irregular ellipses with a domed (calcein) or a small
bright nuclear (PI) profile, anti-aliased by supersampling and blurred by a PSF of
0.6-1.3 px; noise is Poisson (photon) plus Gaussian read noise on a camera offset;
vignetting is radial; out-of-focus cells are discs blurred by 3-12 px and are *not*
cells in the truth. Spheres are textured dark discs with a light rim and a soft edge,
some touching (centre distance 0.9-1.0 of the radii sum), with single-cell specks,
an illumination gradient and no sphere drawn with a diameter between 44 and 57 um,
so that the count at the 50 um cut is unambiguous.

Every function is seeded and returns the image with its truth (numpy only + scipy).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

SS = 3  # supersampling for anti-aliased shapes


def _ellipse_cover(shape, cy, cx, ry, rx, theta, rough, rng):
    """Coverage (0..1) of an irregular ellipse, by SS x SS supersampling of its box."""
    h, w = shape
    r = max(ry, rx) * (1 + 2 * rough) + 2
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 2)
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 2)
    cov = np.zeros(shape, np.float32)
    if y1 <= y0 or x1 <= x0:
        return cov, (slice(0, 0), slice(0, 0))
    yy, xx = np.mgrid[y0 : y1 : 1 / SS, x0 : x1 : 1 / SS]
    yy = yy + (0.5 / SS - 0.5)
    xx = xx + (0.5 / SS - 0.5)
    dy, dx = yy - cy, xx - cx
    c, s = np.cos(theta), np.sin(theta)
    u, v = c * dx + s * dy, -s * dx + c * dy
    ang = np.arctan2(v, u)
    mod = 1.0
    for k in (3, 4, 5):
        mod = mod + rough * rng.normal(0, 1 / k) * np.cos(k * ang + rng.uniform(0, 6.3))
    rho = np.hypot(u / rx, v / ry) / mod
    inside = (rho <= 1).astype(np.float32)
    sub = inside.reshape(y1 - y0, SS, x1 - x0, SS).mean(axis=(1, 3))
    cov[y0:y1, x0:x1] = sub
    return cov, (slice(y0, y1), slice(x0, x1))


def _camera(signal, rng, offset=100.0, gain=0.5, read=3.0):
    """Photon (Poisson) + read noise on an offset, uint16."""
    photons = rng.poisson(np.clip(signal, 0, None) / gain) * gain
    img = offset + photons + rng.normal(0, read, signal.shape)
    return np.clip(img, 0, 65535).astype(np.uint16)


def _vignette(shape, strength, rng):
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    cy, cx = h / 2 + rng.uniform(-0.1, 0.1) * h, w / 2 + rng.uniform(-0.1, 0.1) * w
    rr = np.hypot(yy - cy, xx - cx) / (0.75 * max(h, w))
    return (1 - strength * rr**2).astype(np.float32)


def livedead_image(seed, size=256, *, haze=True, live_fraction=None):
    """A two-channel (YXC, uint16) live/dead well with exact live/dead masks.

    Parameters
    ----------
    seed : int
    size : int
        Image side (pixels).
    haze : bool
        Add out-of-focus blobs (not cells) to the live (and sometimes the dead) channel.
    live_fraction : float, optional
        Target share of live cells (default drawn 0.1-0.9).

    Returns
    -------
    image : ndarray (size, size, 2) uint16
    truth : dict
        ``live_fraction`` (live px / (live + dead px)), ``live``, ``dead`` masks,
        ``pixel_size_um``, ``haze_share`` (haze signal / cell signal in the live channel).
    """
    rng = np.random.default_rng(seed)
    shape = (size, size)
    ps = rng.uniform(0.9, 1.4)  # um per pixel
    cell_d = rng.uniform(11.0, 16.0) / ps  # live cell diameter in pixels
    lf = rng.uniform(0.1, 0.9) if live_fraction is None else live_fraction
    n_cells = int(rng.uniform(0.25, 0.6) * size * size / (cell_d**2))
    live = np.zeros(shape, np.float32)
    dead = np.zeros(shape, np.float32)
    occupied = np.zeros(shape, bool)
    tl = np.zeros(shape, bool)
    td = np.zeros(shape, bool)
    a_live = rng.uniform(300, 1500)
    a_dead = rng.uniform(300, 1500)
    centres: list[tuple[float, float]] = []
    for _ in range(n_cells):
        is_live = rng.random() < lf
        # live cells cluster: half are placed next to an earlier live cell
        if is_live and centres and rng.random() < 0.5:
            py, px = centres[rng.integers(len(centres))]
            ang = rng.uniform(0, 2 * np.pi)
            cy, cx = py + 0.9 * cell_d * np.sin(ang), px + 0.9 * cell_d * np.cos(ang)
        else:
            cy, cx = rng.uniform(0, size), rng.uniform(0, size)
        r = 0.5 * cell_d * rng.uniform(0.8, 1.15) * (1.0 if is_live else rng.uniform(0.6, 0.8))
        ry, rx = r * rng.uniform(0.85, 1.0), r * rng.uniform(0.85, 1.0)
        cov, sl = _ellipse_cover(shape, cy, cx, ry, rx, rng.uniform(0, np.pi), 0.06, rng)
        m = cov >= 0.5
        if not m.any() or (occupied[sl] & m[sl]).sum() > 0.15 * m[sl].sum():
            continue
        m &= ~occupied
        occupied |= ndi.binary_dilation(m, iterations=1) if not is_live else m
        if is_live:
            # calcein: domed cytoplasm, brightness varies 2x between cells
            dist = ndi.distance_transform_edt(np.pad(cov[sl] > 0.5, 1))[1:-1, 1:-1]
            dome = 0.75 + 0.25 * np.clip(dist / max(r, 1), 0, 1)
            live[sl] += a_live * rng.uniform(0.6, 1.3) * cov[sl] * dome
            tl |= m
            centres.append((cy, cx))
        else:
            dead[sl] += a_dead * rng.uniform(0.6, 1.4) * cov[sl]
            td |= m
    psf = rng.uniform(0.6, 1.3)
    live = ndi.gaussian_filter(live, psf)
    dead = ndi.gaussian_filter(dead, psf)
    haze_sig = 0.0
    if haze:
        n_h = int(rng.integers(1, 5))
        for k in range(n_h):
            hz = np.zeros(shape, np.float32)
            cy, cx = rng.uniform(0, size), rng.uniform(0, size)
            rr = 0.5 * cell_d * rng.uniform(0.8, 2.0)
            yy, xx = np.ogrid[:size, :size]
            hz[(yy - cy) ** 2 + (xx - cx) ** 2 <= rr * rr] = 1.0
            hz = ndi.gaussian_filter(hz, rng.uniform(4.0, 12.0))
            hz *= rng.uniform(0.1, 0.4) * a_live / max(hz.max(), 1e-6)
            # most out-of-focus cells are live (calcein is the brighter stain)
            if k % 4 == 3:
                dead += hz * a_dead / a_live
            else:
                live += hz
                haze_sig += float(hz.sum())
    bleed = rng.uniform(0.0, 0.05)
    dead = dead + bleed * live
    vig = _vignette(shape, rng.uniform(0.1, 0.3), rng)
    bg = rng.uniform(20, 60)
    img = np.stack([_camera(live * vig + bg, rng), _camera(dead * vig + bg, rng)], axis=-1)
    lp, dp = int(tl.sum()), int(td.sum())
    return img, {
        "live_fraction": lp / (lp + dp) if lp + dp else float("nan"),
        "live": tl,
        "dead": td,
        "pixel_size_um": ps,
        "haze_share": haze_sig / max(float(live.sum()) - haze_sig, 1e-6),
    }


def crystal_violet_photo(seed, size=256):
    """An RGB uint8 photo of a crystal-violet stained well: purple colonies on white."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    stain = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(8, 30))):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.02, 0.09) * size
        cov, _ = _ellipse_cover(
            shape, cy, cx, r, r * rng.uniform(0.6, 1), rng.uniform(0, 3), 0.2, rng
        )
        stain += cov * rng.uniform(0.4, 1.2)
    stain = ndi.gaussian_filter(stain, 1.5) + 0.05 * rng.random()
    absorb = np.array([0.45, 0.9, 0.25], np.float32)  # violet: absorbs green most
    white = rng.uniform(200, 245)
    rgb = white * np.exp(-stain[..., None] * absorb[None, None, :] * rng.uniform(1, 2.5))
    rgb *= _vignette(shape, rng.uniform(0.05, 0.25), rng)[..., None]
    rgb += rng.normal(0, 3, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def brightfield_spheroid_rgb(seed, size=256):
    """An RGB uint8 brightfield photo of one dark spheroid on a light background."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    r = rng.uniform(0.15, 0.3) * size
    cov, _ = _ellipse_cover(
        shape,
        size / 2 + rng.uniform(-20, 20),
        size / 2 + rng.uniform(-20, 20),
        r,
        r * rng.uniform(0.85, 1),
        0,
        0.05,
        rng,
    )
    tex = ndi.gaussian_filter(rng.normal(0, 1, shape), 2) * 8
    g = rng.uniform(170, 220) * (1 - rng.uniform(0.4, 0.7) * ndi.gaussian_filter(cov, 1.5))
    g = g + tex * cov + rng.normal(0, 2.5, shape)
    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 1.0)])
    return np.clip(g[..., None] * tint, 0, 255).astype(np.uint8)


def same_stain_image(seed, size=256):
    """A two-channel image whose 'dead' channel is the live stain again (another gain)."""
    rng = np.random.default_rng(seed)
    img, _ = livedead_image(seed + 5000, size, haze=False, live_fraction=1.0)
    live = img[..., 0].astype(np.float32) - 100
    gain = float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
    dead = 100 + gain * live + rng.normal(0, 3, live.shape)
    return np.stack([img[..., 0], np.clip(dead, 0, 65535).astype(np.uint16)], axis=-1)


# ---------------------------------------------------------------------------- spheres

GAP_UM = (44.0, 57.0)  # no sphere is drawn with a diameter in this band


def _draw_sphere_diameter(rng):
    while True:
        d = float(np.exp(rng.uniform(np.log(25), np.log(170))))
        if not GAP_UM[0] <= d <= GAP_UM[1]:
            return d


def spheres_image(seed, size=512, *, ps=None, n=None, touching=0.3):
    """A brightfield (uint16, YX) sphere-assay field with touching spheres and specks.

    Returns
    -------
    image : ndarray (size, size) uint16
    truth : dict
        ``sphere_count`` (spheres with equivalent diameter >= 50 um), ``pixel_size_um``,
        ``diameters_um`` of all spheres, ``n_touching``, ``labels``.
    """
    rng = np.random.default_rng(seed)
    shape = (size, size)
    ps = rng.uniform(2.0, 3.0) if ps is None else ps
    n = int(rng.integers(10, 28)) if n is None else n
    lab = np.zeros(shape, np.int32)
    absorb = np.zeros(shape, np.float32)
    rim = np.zeros(shape, np.float32)
    spheres: list[tuple[float, float, float]] = []
    diam: list[float] = []
    n_touch = 0
    tries = 0
    while len(spheres) < n and tries < 2000:
        tries += 1
        d_um = _draw_sphere_diameter(rng)
        r = d_um / ps / 2
        if spheres and rng.random() < touching:
            py, px, pr = spheres[rng.integers(len(spheres))]
            ang = rng.uniform(0, 2 * np.pi)
            dist = (pr + r) * rng.uniform(0.9, 1.0)
            cy, cx = py + dist * np.sin(ang), px + dist * np.cos(ang)
            touch = True
        else:
            cy, cx = rng.uniform(r + 4, size - r - 4, 2)
            touch = False
        if not (r + 3 < cy < size - r - 3 and r + 3 < cx < size - r - 3):
            continue
        # free of every other sphere except the one it touches
        ok = all(
            np.hypot(cy - qy, cx - qx) > (qr + r) * (0.9 if touch else 1.15)
            for qy, qx, qr in spheres
        )
        if not ok:
            continue
        cov, sl = _ellipse_cover(
            shape, cy, cx, r * rng.uniform(0.93, 1), r, rng.uniform(0, 3), 0.03, rng
        )
        m = (cov >= 0.5) & (lab == 0)
        k = len(spheres) + 1
        lab[m] = k
        dark = rng.uniform(0.45, 0.8)
        absorb[sl] = np.maximum(absorb[sl], cov[sl] * dark)
        spheres.append((cy, cx, r))
        diam.append(2 * np.sqrt(m.sum() / np.pi) * ps)
        n_touch += touch
    # cell texture inside the spheres, a light rim just outside
    tex = ndi.gaussian_filter(rng.normal(0, 1, shape), 1.5)
    absorb = absorb * (1 + 0.25 * tex / (tex.std() + 1e-9))
    outside = ndi.distance_transform_edt(lab == 0)
    rim = 0.08 * np.exp(-((outside - 1.5) ** 2) / 2.0) * (outside > 0)
    # single cells / debris: 8-18 um dark specks, not spheres
    specks = np.zeros(shape, np.float32)
    for _ in range(int(rng.integers(10, 50))):
        rr = rng.uniform(4, 9) / ps
        cov, sl = _ellipse_cover(shape, *rng.uniform(0, size, 2), rr, rr, 0, 0.0, rng)
        specks[sl] = np.maximum(specks[sl], cov[sl] * rng.uniform(0.2, 0.6))
    trans = (1 - np.clip(absorb, 0, 0.95)) * (1 - specks) * (1 + rim)
    trans = ndi.gaussian_filter(trans, rng.uniform(0.7, 1.5))
    yy, xx = np.mgrid[:size, :size] / size
    ang = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0.05, 0.25) * ((yy - 0.5) * np.sin(ang) + (xx - 0.5) * np.cos(ang))
    light *= _vignette(shape, rng.uniform(0.05, 0.2), rng)
    signal = rng.uniform(1500, 3000) * trans * light
    img = _camera(signal, rng, offset=100, gain=1.0, read=5)
    d = np.asarray(diam)
    return img, {
        "sphere_count": int((d >= 50.0).sum()),
        "pixel_size_um": ps,
        "diameters_um": d,
        "n_touching": n_touch,
        "labels": lab,
    }


def single_spheroid_image(seed, size=512):
    """One big dark spheroid (30-55 % of the field's side) in brightfield, uint16."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    r = rng.uniform(0.15, 0.27) * size
    cov, _ = _ellipse_cover(
        shape,
        size / 2 + rng.uniform(-30, 30),
        size / 2 + rng.uniform(-30, 30),
        r,
        r * rng.uniform(0.85, 1),
        rng.uniform(0, 3),
        0.06,
        rng,
    )
    tex = ndi.gaussian_filter(rng.normal(0, 1, shape), 2)
    absorb = ndi.gaussian_filter(cov, 1.2) * rng.uniform(0.4, 0.8) * (1 + 0.2 * tex)
    signal = rng.uniform(1500, 3000) * (1 - absorb) * _vignette(shape, 0.15, rng)
    return _camera(signal, rng, offset=100, gain=1.0, read=5)


def colony_well_gray(seed, size=512):
    """A dense crystal-violet colony well photographed in gray (uint16): many small
    irregular flat colonies merging over 30-60 % of the field."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    stain = np.zeros(shape, np.float32)
    target = rng.uniform(0.3, 0.6)
    while (stain > 0.3).mean() < target:
        r = rng.uniform(0.01, 0.05) * size
        cov, _ = _ellipse_cover(
            shape,
            *rng.uniform(0, size, 2),
            r,
            r * rng.uniform(0.4, 1),
            rng.uniform(0, 3),
            0.35,
            rng,
        )
        stain += cov * rng.uniform(0.4, 1.0)
    stain = ndi.gaussian_filter(stain, 2)
    signal = rng.uniform(1500, 3000) * np.exp(-1.2 * stain) * _vignette(shape, 0.15, rng)
    return _camera(signal, rng, offset=100, gain=1.0, read=5)
