"""The invisible watermark: a keyed spread-spectrum pattern that carries part of the image id.

What it carries: the first 48 bits of the image's UUID and a 24-bit keyed tag (an HMAC of those
bits under EASEL_WATERMARK_KEY), 72 bits in all. 48 bits find the image row (a range query on
the primary key); the tag makes a chance decoding, or a forgery without the key, fail.

Embedding: each bit has its own keyed pseudo-random pattern on a TILE x TILE torus, limited to
the band of spatial frequencies that survives JPEG, WebP and halving the size; the patterns are
made exactly orthogonal, so bits do not disturb each other. The watermark is the sum of the
patterns, each signed by its bit, tiled over the image and scaled by the local texture (stronger
where the eye cannot see it, weaker on flat areas). Only luminance changes: the same amount is
added to R, G and B, so colour subsampling does not touch it. It costs a few numpy and OpenCV
passes.

Reading: the luminance is whitened (its smooth part removed, its contrast normalised) and every
tile of it summed into one ("folded"): a crop only shifts the tile cyclically, and one FFT per
pattern correlates it at every shift at once. The shift where the patterns' combined energy
peaks gives the bits. Each pixel lands in the tile through a scale and an angle, so a resized or
slightly rotated copy folds back as well: the scales tried are "as it is", "resized whole from a
delivered side", and the period and angle of the tiling, which the autocorrelation of the
whitened image shows as a square lattice of peaks. A reading counts only when the tag verifies.
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from scipy import ndimage
from scipy.fft import irfft2, rfft2

from generation.provenance.convolutional import TAIL, convolutional_encode, viterbi_decode

TILE = 60  # pixels at the delivered scale; not a multiple of JPEG's 8x8 blocks
ID_BITS = 48
TAG_BITS = 24
PAYLOAD_BITS = ID_BITS + TAG_BITS
CARRIED_BITS = 2 * (PAYLOAD_BITS + TAIL)  # after the rate-1/2 convolutional code
# The band the patterns live in, in cycles per pixel at the delivered scale.
BAND = (0.06, 0.22)
# Strength in grey levels: on flat areas, plus a share of the local standard deviation.
STRENGTH_FLAT = 1.0
STRENGTH_TEXTURE = 0.35
STRENGTH_MAX = 9.0
MIN_SIDE = 2 * TILE  # a smaller image (at the delivered scale) carries no watermark
# A square copy is first tried as if resized whole from one of these sides.
DELIVERED_SIDES = (256, 512, 1024)
LATTICE_GUESSES = 6


@dataclass(frozen=True)
class WatermarkReading:
    id_prefix: int | None  # the first ID_BITS bits of the image id; None: no valid watermark
    confidence: float  # the correlation peak over its background: about 1.7 when unmarked


def _key() -> bytes:
    return settings.EASEL_WATERMARK_KEY.encode()


def id_prefix(image_id: uuid.UUID) -> int:
    return image_id.int >> (128 - ID_BITS)


def id_range(prefix: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The smallest and largest UUID that start with `prefix` (for a primary-key range query)."""
    shift = 128 - ID_BITS
    return uuid.UUID(int=prefix << shift), uuid.UUID(int=(prefix << shift) | ((1 << shift) - 1))


def _tag(prefix: int, key: bytes) -> int:
    digest = hmac.new(key, b"easel-watermark:" + prefix.to_bytes(8, "big"), hashlib.sha256)
    return int.from_bytes(digest.digest()[: TAG_BITS // 8], "big")


def _carried_signs(prefix: int, key: bytes) -> np.ndarray:
    """+1 or -1 for each carried bit: the prefix and its tag, convolutionally coded."""
    value = (prefix << TAG_BITS) | _tag(prefix, key)
    bits = [(value >> (PAYLOAD_BITS - 1 - position)) & 1 for position in range(PAYLOAD_BITS)]
    return np.where(np.array(convolutional_encode(bits), dtype=bool), 1.0, -1.0)


@lru_cache(maxsize=4)
def _patterns(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """CARRIED_BITS orthonormal band-limited patterns on the tile, and their conjugate spectra."""
    seed = int.from_bytes(hashlib.sha256(b"easel-watermark-patterns:" + key).digest()[:8], "big")
    random = np.random.default_rng(seed)
    radius = np.hypot(np.fft.fftfreq(TILE)[:, None], np.fft.rfftfreq(TILE)[None, :])
    band = (radius >= BAND[0]) & (radius <= BAND[1])
    shaped = irfft2(rfft2(random.standard_normal((CARRIED_BITS, TILE, TILE))) * band, s=(TILE,) * 2)
    basis, _ = np.linalg.qr(shaped.reshape(CARRIED_BITS, -1).T)
    patterns = basis.T.reshape(CARRIED_BITS, TILE, TILE) * TILE  # mean square 1 per pixel
    return patterns, np.conj(rfft2(patterns))


def _luma(image: PILImage.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    return rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114


def _local_deviation(plane: np.ndarray, size: int) -> np.ndarray:
    mean = ndimage.uniform_filter(plane, size)
    square = ndimage.uniform_filter(plane * plane, size)
    return np.sqrt(np.maximum(square - mean * mean, 0.0))


def _texture(luma: np.ndarray) -> np.ndarray:
    """How much busy texture surrounds each pixel, in grey levels. The smallest local deviation
    nearby, so that an edge (busy on one line only) does not count: noise beside a clean edge
    shows, noise in grass or gravel does not.

    OpenCV's box filter and erosion (the same sums and minimum as scipy.ndimage's uniform and
    minimum filters, with the same mirrored borders) in float32: about 10x faster, and this runs
    for every delivered image."""
    import cv2

    plane = np.ascontiguousarray(luma, dtype=np.float32)
    border = cv2.BORDER_REFLECT  # scipy.ndimage's "reflect"
    mean = cv2.blur(plane, (5, 5), borderType=border)
    square = cv2.blur(plane * plane, (5, 5), borderType=border)
    deviation = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return cv2.erode(deviation, np.ones((9, 9), np.uint8), borderType=border)


def watermark_embed(image: PILImage.Image, *, image_id: uuid.UUID) -> PILImage.Image:
    """The image (RGB) with the id's watermark added."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ValueError("image too small to carry a watermark")
    key = _key()
    tile = (_carried_signs(id_prefix(image_id), key) @ _flat_patterns(key)).reshape(TILE, TILE)
    tile = (tile / np.sqrt(np.mean(tile * tile))).astype(np.float32)
    mark = np.tile(tile, (-(-height // TILE), -(-width // TILE)))[:height, :width]
    luma = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    strength = np.minimum(STRENGTH_FLAT + STRENGTH_TEXTURE * _texture(luma), STRENGTH_MAX)
    marked = rgb + (mark * strength)[:, :, None]
    np.rint(marked, out=marked)
    return PILImage.fromarray(np.clip(marked, 0, 255, out=marked).astype(np.uint8), mode="RGB")


@lru_cache(maxsize=4)
def _flat_patterns(key: bytes) -> np.ndarray:
    """The patterns as one contiguous (bits, pixels) matrix: the tile is one matrix product."""
    return np.ascontiguousarray(_patterns(key)[0].reshape(CARRIED_BITS, -1))


def _whiten(luma: np.ndarray) -> np.ndarray:
    """The detail the watermark lives in, each region scaled to about unit variance."""
    detail = luma - ndimage.gaussian_filter(luma, 2.0)
    return detail / (_local_deviation(detail, 9) ** 2 + 1.0)


def _fold(detail: np.ndarray, *, scale: float, angle: float) -> np.ndarray:
    """Every pixel added into the tile at its place in the delivered image (its position
    rotated by `angle` degrees and scaled by `scale` about the centre), then each tile position
    divided by the square root of how many pixels landed there: unit-variance noise, a signal
    that grows with the number of tiles."""
    height, width = detail.shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    if scale == 1.0 and angle == 0.0:
        y, x = rows, cols
    else:
        rows -= height / 2
        cols -= width / 2
        radians = np.radians(angle)
        cos, sin = np.cos(radians) * scale, np.sin(radians) * scale
        y = cos * rows - sin * cols + height * scale / 2
        x = sin * rows + cos * cols + width * scale / 2
    index = (np.rint(y).astype(np.int64) % TILE) * TILE + np.rint(x).astype(np.int64) % TILE
    sums = np.bincount(index.ravel(), weights=detail.ravel(), minlength=TILE * TILE)
    counts = np.bincount(index.ravel(), minlength=TILE * TILE)
    folded = sums / np.sqrt(np.maximum(counts, 1))
    folded[counts > 0] -= folded[counts > 0].mean()
    return folded.reshape(TILE, TILE)


def _decode(folded: np.ndarray, key: bytes) -> tuple[int | None, float]:
    """The id prefix the folded tile carries at its best shift, and the confidence."""
    _, spectra = _patterns(key)
    correlations = irfft2(rfft2(folded)[None] * spectra, s=(TILE, TILE))  # bit x shift
    energy = np.sum(correlations * correlations, axis=0)
    peak = np.unravel_index(int(np.argmax(energy)), energy.shape)
    background = float(np.median(energy))
    if background <= 0:  # a flat image: nothing to read
        return None, 0.0
    confidence = float(energy[peak]) / background
    return _bits_decode(correlations[:, peak[0], peak[1]], key), confidence


def _bits_decode(soft: np.ndarray, key: bytes) -> int | None:
    """The prefix the soft bits decode to, if its tag verifies (noise passes 1 in 2**TAG_BITS)."""
    value = 0
    for bit in viterbi_decode(soft):
        value = (value << 1) | bit
    prefix, tag = value >> TAG_BITS, value & ((1 << TAG_BITS) - 1)
    return prefix if tag == _tag(prefix, key) else None


# --- Finding the scale and angle of a resized or rotated copy ---------------------------------


def _autocorrelation(detail: np.ndarray) -> np.ndarray:
    centred = detail - detail.mean()
    spectrum = rfft2(centred)
    autocorrelation = irfft2(spectrum * np.conj(spectrum), s=centred.shape)
    if autocorrelation[0, 0] <= 0:  # a flat image: no detail, no lattice
        return np.zeros_like(autocorrelation)
    return autocorrelation / autocorrelation[0, 0]


def _sample(grid: np.ndarray, lag: np.ndarray) -> float:
    """The autocorrelation at a fractional lag (bilinear, wrapping round as the FFT does)."""
    height, width = grid.shape
    fraction_y, fraction_x = lag[0] - np.floor(lag[0]), lag[1] - np.floor(lag[1])
    row0, col0 = int(np.floor(lag[0])) % height, int(np.floor(lag[1])) % width
    row1, col1 = (row0 + 1) % height, (col0 + 1) % width
    return float(
        grid[row0, col0] * (1 - fraction_y) * (1 - fraction_x)
        + grid[row0, col1] * (1 - fraction_y) * fraction_x
        + grid[row1, col0] * fraction_y * (1 - fraction_x)
        + grid[row1, col1] * fraction_y * fraction_x
    )


def _turn(vector: np.ndarray, degrees: float) -> np.ndarray:
    radians = np.radians(degrees)
    cos, sin = np.cos(radians), np.sin(radians)
    return np.array([cos * vector[0] + sin * vector[1], -sin * vector[0] + cos * vector[1]])


def _lattice_score(grid: np.ndarray, axis: np.ndarray) -> float:
    """How strongly the autocorrelation peaks on the square lattice that `axis` spans."""
    across = _turn(axis, 90.0)
    reach = min(grid.shape) / 2 - 2
    points = [axis, across, axis + across, axis - across, 2 * axis, 2 * across]
    values = [_sample(grid, point) for point in points if np.hypot(*point) < reach]
    return float(np.mean(values)) if values else -1.0


def _refine(grid: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The axis measured to a fraction of a pixel at the farthest lattice point in reach (its
    error divides by how many periods away that is)."""
    reach = min(grid.shape) / 2 - 2
    multiple = max(1, int(reach // np.hypot(*axis)))
    for _ in range(3):
        centre = np.rint(axis * multiple).astype(int)
        rows = (centre[0] + np.arange(-1, 2)) % grid.shape[0]
        cols = (centre[1] + np.arange(-1, 2)) % grid.shape[1]
        patch = grid[np.ix_(rows, cols)]
        offset = []
        for line in (patch[:, 1], patch[1, :]):
            curvature = line[0] - 2 * line[1] + line[2]
            offset.append(0.5 * (line[0] - line[2]) / curvature if curvature < 0 else 0.0)
        axis = (centre + np.clip(offset, -1.0, 1.0)) / multiple
    return axis


def _lattice_guesses(detail: np.ndarray, count: int) -> list[tuple[float, float]]:
    """(scale, angle) guesses from the strongest autocorrelation peaks near one tile's lag."""
    grid = _autocorrelation(detail)
    height, width = grid.shape
    lag_y = np.fft.fftfreq(height, 1.0 / height)[:, None]
    lag_x = np.fft.fftfreq(width, 1.0 / width)[None, :]
    radius = np.hypot(lag_y, lag_x)
    near = (radius >= TILE * 0.35) & (radius <= min(TILE * 2.2, min(height, width) / 2 - 2))
    near &= lag_x >= 0  # the autocorrelation is symmetric: half the plane suffices
    scores = np.where(near, grid, -np.inf)
    peaks = np.argwhere((scores == ndimage.maximum_filter(scores, size=5, mode="wrap")) & near)
    strongest = peaks[np.argsort(scores[peaks[:, 0], peaks[:, 1]])[::-1][:6]]
    axes = []
    for row, col in strongest:
        peak = np.array([lag_y[row, 0], lag_x[0, col]])
        # A peak may be the lattice's axis, twice it, its diagonal or a (2, 1) point.
        axes += [peak, peak / 2, _turn(peak, 45.0) / np.sqrt(2)]
        axes += [_turn(peak, turn) / np.sqrt(5) for turn in (26.565, -26.565)]
    ranked = sorted(
        (axis for axis in axes if np.hypot(*axis) >= TILE * 0.3),
        key=lambda axis: _lattice_score(grid, axis),
        reverse=True,
    )
    guesses: list[tuple[float, float]] = []
    for axis in ranked:
        refined = _refine(grid, axis)
        guesses.append(
            (
                TILE / float(np.hypot(*refined)),
                (float(np.degrees(np.arctan2(refined[0], refined[1]))) + 45.0) % 90.0 - 45.0,
            )
        )
        if len(_distinct(guesses)) == count:
            break
    return _distinct(guesses)


def _distinct(hypotheses: list[tuple[float, float]]) -> list[tuple[float, float]]:
    kept: list[tuple[float, float]] = []
    for scale, angle in hypotheses:
        if all(abs(scale - s) > 0.005 * s or abs(angle - a) > 0.1 for s, a in kept):
            kept.append((scale, angle))
    return kept


def _hypotheses(detail: np.ndarray) -> list[tuple[float, float]]:
    """(scale, angle) pairs to read at, likeliest first: as it is; resized whole from a
    delivered side; then the lattice's period and angle."""
    height, width = detail.shape
    hypotheses = [(1.0, 0.0)]
    if abs(width - height) <= 1:
        hypotheses += [(side / width, 0.0) for side in DELIVERED_SIDES]
    hypotheses += _lattice_guesses(detail, LATTICE_GUESSES)
    return [(s, a) for s, a in _distinct(hypotheses) if min(height, width) * s >= MIN_SIDE]


def watermark_read(image: PILImage.Image) -> WatermarkReading:
    """The id prefix an Easel watermark under this deployment's key carries, if there is one."""
    key = _key()
    detail = _whiten(_luma(image))
    best = 0.0
    for scale, angle in _hypotheses(detail):
        prefix, confidence = _decode(_fold(detail, scale=scale, angle=angle), key)
        if prefix is not None:
            return WatermarkReading(id_prefix=prefix, confidence=confidence)
        best = max(best, confidence)
    return WatermarkReading(id_prefix=None, confidence=best)
