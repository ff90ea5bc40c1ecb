"""Per-macro, per-column two-point calibration, and the error study around it.

After programming, each macro is probed with K known drive vectors (one
evaluation each). For every physical column the measured value ``y`` (ADC code
x LSB, level units) is
fitted against the ideal column sum ``a = sum_i x_i d_i`` by least squares,
``y ~ g a + o``, and later conversions are corrected digitally,
``a_hat = (y - o) / g``, on every conversion, before rounding to the integer
partial sum (bit-serial: before the shift-add). With
``calibration.adc_trim`` the macro's ADC reference is first scaled by the
median fitted gain (one more probe pass), so that its full scale follows the
macro's actual signal range, and the digital fit is repeated.

Cost: K MVMs per pass per macro (counted as MVM actions), and for the fit four
digital accumulations per vector and column plus eight operations per column
to solve it (counted as digital-unit operations).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from accelsim.config.arch import ArchConfig
from accelsim.counts import Action, ActionCounts
from accelsim.errors import ConfigError, Problem
from accelsim.hw.geometry import mvm_counts
from accelsim.hw.macro import (
    ProgrammedMacros,
    adc_lsb_levels,
    evaluation_input_max,
    ideal_mvm,
    input_max,
    mvm,
    probe_columns,
    program,
    weight_range,
)
from accelsim.hw.variation import MacroPopulation, make_population, population_size_and_seed
from accelsim.results.macro import CalibrationStudy, ErrorStats

#: digital operations per vector and column of the least-squares fit (sums of a, y, a^2, a y)
FIT_OPS_PER_VECTOR = 4
#: digital operations per column to solve the 2 x 2 fit and store gain and offset
FIT_OPS_PER_COLUMN = 8


@dataclass(frozen=True, eq=False)
class Calibration:
    """The outcome of calibrating some programmed macros.

    Attributes:
        programmed: the macros with the correction (and ADC trim) applied.
        gain: fitted gain of each used column, shape (n, columns used).
        offset_levels: fitted offset of each used column, level units.
        adc_trim: factor applied to each macro's ADC reference (1 without trim), shape (n,).
        vectors: known vectors K per pass.
        passes: probe passes (2 with ADC trim, else 1).
        counts: actions of the whole calibration (all macros).
        cycles_per_macro: clock cycles one macro spends being probed.
    """

    programmed: ProgrammedMacros
    gain: np.ndarray
    offset_levels: np.ndarray
    adc_trim: np.ndarray
    vectors: int
    passes: int
    counts: ActionCounts
    cycles_per_macro: int


def calibration_inputs(population: MacroPopulation, vectors: int, rows: int, passes: int) -> list[np.ndarray]:
    """The known drive vectors of each pass, shape (vectors, rows): uniform over one
    evaluation's range (the whole input bit-parallel, one bit bit-serial).

    They come from the population's calibration stream: a fixed pattern set
    shared by all macros (as a calibration ROM would hold).
    """
    rng = np.random.default_rng(population.calibration_seed)
    high = evaluation_input_max(population.macro)
    return [rng.integers(0, high + 1, (vectors, rows)) for _ in range(passes)]


def fit_columns(measured: np.ndarray, ideal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``measured ~ gain x ideal + offset`` over axis 1, per macro and column.

    Both arrays have shape (n, vectors, columns). A column whose ideal values
    do not vary (e.g. all its cells at level 0) cannot reveal its gain: it
    keeps gain 1 and gets its offset only.
    """
    a_mean = ideal.mean(axis=1)
    y_mean = measured.mean(axis=1)
    a_var = ((ideal - a_mean[:, None]) ** 2).mean(axis=1)
    cov = ((ideal - a_mean[:, None]) * (measured - y_mean[:, None])).mean(axis=1)
    usable = a_var > 1e-9
    gain = np.where(usable, cov / np.where(usable, a_var, 1.0), 1.0)
    gain = np.where(gain > 0, gain, 1.0)  # a non-positive slope is not a gain: leave it uncorrected
    return gain, y_mean - gain * a_mean


def calibrate(prog: ProgrammedMacros, vectors: int | None = None, *, drive: np.ndarray | None = None) -> Calibration:
    """Probe each programmed macro with known vectors and fit its column correction.

    ``drive``: the known vectors, one evaluation each, shape (K, rows_used) or
    (n, K, rows_used) (each macro its own), e.g. drawn from the activations its
    layer sees so that the fit holds where the network operates; every pass uses
    them. Default: ``vectors`` uniform vectors of :func:`calibration_inputs`.
    """
    m = prog.macro
    passes = 2 if m.calibration.adc_trim else 1
    if drive is None:
        k = m.calibration.vectors if vectors is None else vectors
        if k < 2:
            raise ValueError(f"calibration needs at least 2 vectors to fit gain and offset, got {k}")
        probes = calibration_inputs(prog.population, k, prog.rows_used, passes)
    else:
        drive = np.asarray(drive)
        k = drive.shape[-2] if drive.ndim >= 2 else 0
        if k < 2:
            raise ValueError(f"calibration needs at least 2 vectors to fit gain and offset, got {k}")
        probes = [drive] * passes
    trim = np.ones(len(prog.macro_ids))
    current = prog
    for index, x in enumerate(probes):
        measured = probe_columns(current, x)
        ideal = np.matmul(x.astype(np.float64), prog.conversion_digits)  # (n, K, converted columns)
        gain, offset = fit_columns(measured, ideal)
        if index + 1 < passes:
            factor = np.median(gain, axis=1)
            trim *= factor
            current = current.with_adc_lsb(current.adc_lsb * factor)
    n, cols = len(prog.macro_ids), prog.conversion_columns_used
    geom = prog.population.geometry
    probe_counts = mvm_counts(geom, prog.rows_used, prog.weight_columns_used, mvms=n * k * passes)
    fit_ops = n * cols * (FIT_OPS_PER_VECTOR * k + FIT_OPS_PER_COLUMN) * passes
    return Calibration(
        programmed=current.with_correction(gain, offset),
        gain=gain,
        offset_levels=offset,
        adc_trim=trim,
        vectors=k,
        passes=passes,
        counts=probe_counts + ActionCounts({Action.DIGITAL_OPS: fit_ops}),
        cycles_per_macro=k * passes * geom.cycles_per_mvm,
    )


# --------------------------------------------------------------------------- error study


def macro_errors(outputs: np.ndarray, ideal: np.ndarray, lsb: float) -> tuple[np.ndarray, np.ndarray]:
    """Per macro (axis 0): RMSE of ``outputs - ideal`` in ADC LSB and SQNR in dB."""
    err = (outputs.astype(np.float64) - ideal).reshape(len(outputs), -1)
    signal = (ideal.astype(np.float64) ** 2).reshape(len(outputs), -1).mean(axis=1)
    mse = (err**2).mean(axis=1)
    with np.errstate(divide="ignore"):
        sqnr = 10.0 * np.log10(signal / mse)
    return np.sqrt(mse) / lsb, sqnr


def error_stats(rmse_lsb: np.ndarray, sqnr_db: np.ndarray) -> ErrorStats:
    """Mean, 95th percentile and worst RMSE, mean, 5th percentile and worst SQNR across macros."""
    return ErrorStats(
        rmse_lsb_mean=float(np.mean(rmse_lsb)),
        rmse_lsb_p95=float(np.percentile(rmse_lsb, 95)),
        rmse_lsb_worst=float(np.max(rmse_lsb)),
        sqnr_db_mean=float(np.mean(sqnr_db)),
        sqnr_db_p5=float(np.percentile(sqnr_db, 5)),
        sqnr_db_worst=float(np.min(sqnr_db)),
    )


def _reduction(before: float, after: float) -> float:
    """``before / after``; inf when only ``after`` is 0, 1 when both are."""
    if after:
        return before / after
    return float("inf") if before else 1.0


def _ideal_devices(arch: ArchConfig) -> ArchConfig:
    """The same design with every variation and noise sigma set to zero."""
    zero = arch.macro.variation.without_errors()
    return arch.model_copy(update={"macro": arch.macro.model_copy(update={"variation": zero})})


def _steps(progress, total: int):
    """A callable that reports one more of ``total`` steps done to ``progress`` (if any)."""
    done = [0]

    def step() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    return step


#: the study's memory per macro: per cell (the programmed state of the varied and the ideal population,
#: measured 74 B), per macro (its seeds), and per test or calibration vector 8 bytes for each row, weight
#: column and each of the three results' converted columns (measured 2.9 kB per vector of a 64 x 64 macro)
STUDY_BYTES_PER_CELL = 48
STUDY_BYTES_PER_MACRO = 1_000
#: the study's time: programming per cell (measured 180 ns), the three passes per multiply-accumulate (~1 ns)
STUDY_SECONDS_PER_CELL = 50e-9
STUDY_SECONDS_PER_MAC = 0.5e-9


def check_study_size(arch: ArchConfig, size: int | None, eval_vectors: int,
                     names: tuple[str, str] = ("macros", "eval_vectors")) -> None:
    """Refuse, before any array is allocated, a study of ``size`` macros (default ``chip.macros``) and
    ``eval_vectors`` test vectors each whose arrays do not fit in memory or that takes more than a day
    (:mod:`accelsim.config.limits`); a ConfigError naming ``names`` (the size's and the vectors' option)."""
    from accelsim.config.limits import MAX_SECONDS, human_bytes, memory_limit, memory_problem, time_problem

    m = arch.macro
    macros = arch.chip.macros if size is None else size
    vectors = eval_vectors + m.calibration.vectors
    cells = m.rows * m.columns
    per_vector = 8 * (m.rows + m.weight_columns + 3 * m.conversion_columns)
    per_macro = cells * STUDY_BYTES_PER_CELL + STUDY_BYTES_PER_MACRO + 8 * m.rows * m.weight_columns
    def seconds(n_macros: int, n_vectors: int) -> float:
        return n_macros * (cells * STUDY_SECONDS_PER_CELL + 3 * n_vectors * m.rows * m.weight_columns
                           * STUDY_SECONDS_PER_MAC)

    def problem(n_macros: int, n_vectors: int) -> str | None:
        return (memory_problem(n_macros * (per_macro + n_vectors * per_vector))
                or time_problem(seconds(n_macros, n_vectors)))

    why = problem(macros, vectors)
    if not why:
        return
    cost = (f"{human_bytes(per_macro)} per macro and {human_bytes(per_vector)} per macro and vector "
            f"({eval_vectors:,} test + {m.calibration.vectors:,} calibration vectors)")
    limit = memory_limit()[0]
    if not problem(macros, 1 + m.calibration.vectors):  # the macros would fit with fewer test vectors
        name, value = names[1], eval_vectors
        most = min((limit / macros - per_macro) / per_vector, MAX_SECONDS / seconds(macros, 1)) - m.calibration.vectors
    else:
        name, value = (names[0] if size is not None else "chip.macros"), macros
        most = min(limit / (per_macro + vectors * per_vector), MAX_SECONDS / seconds(1, vectors))
    raise ConfigError(Problem(f"a calibration study of {macros:,} macros of {m.rows} x {m.columns} cells with "
                              f"{eval_vectors:,} test vectors each, at {cost}, needs {why}; at most about "
                              f"{max(1, int(most)):,} could fit", file=name, value=value))


def calibration_study(arch: ArchConfig, size: int | None = None, seed: int | None = None,
                      eval_vectors: int = 256, progress=None) -> CalibrationStudy:
    """Program, calibrate and measure a population of ``size`` macros.

    A study too big for memory or a day is refused first (:func:`check_study_size`).
    ``progress(done, total)``, if given, is called after each of the study's five steps."""
    step = _steps(progress, 5)
    if eval_vectors < 1:
        raise ValueError(f"eval_vectors must be >= 1, got {eval_vectors}")
    check_study_size(arch, size, eval_vectors)
    if arch.macro.is_digital:
        return _digital_study(arch, size, seed, eval_vectors, step)
    pop = make_population(arch, size, seed)
    m = arch.macro
    rng = np.random.default_rng(pop.study_seed)
    low, high = weight_range(m)
    ids = np.arange(pop.size)
    weights = rng.integers(low, high + 1, (pop.size, m.rows, m.weight_columns))
    x = rng.integers(0, input_max(m) + 1, (pop.size, eval_vectors, m.rows))
    noise_entropy = int(rng.integers(2**63))
    ideal = ideal_mvm(weights, x)
    lsb = adc_lsb_levels(m)

    prog = program(pop, ids, weights)
    step()
    cal = calibrate(prog)
    step()
    before, _ = mvm(prog, x, rng=np.random.default_rng(noise_entropy), corrected=False)
    step()
    after, _ = mvm(cal.programmed, x, rng=np.random.default_rng(noise_entropy))
    step()
    ideal_pop = make_population(_ideal_devices(arch), pop.size, pop.seed)
    floor, _ = mvm(calibrate(program(ideal_pop, ids, weights)).programmed, x)
    step()

    rmse_before, sqnr_before = macro_errors(before, ideal, lsb)
    rmse_after, sqnr_after = macro_errors(after, ideal, lsb)
    stats_before, stats_after = error_stats(rmse_before, sqnr_before), error_stats(rmse_after, sqnr_after)
    return CalibrationStudy(
        macros=pop.size,
        vectors=cal.vectors,
        eval_vectors=eval_vectors,
        seed=pop.seed,
        adc_trim=m.calibration.adc_trim,
        adc_lsb_levels=lsb,
        before=stats_before,
        after=stats_after,
        floor=error_stats(*macro_errors(floor, ideal, lsb)),
        worst_rmse_reduction=_reduction(stats_before.rmse_lsb_worst, stats_after.rmse_lsb_worst),
        rmse_lsb_before=tuple(float(v) for v in rmse_before),
        rmse_lsb_after=tuple(float(v) for v in rmse_after),
        cycles_per_macro=cal.cycles_per_macro,
        counts=cal.counts,
    )


def _digital_study(arch: ArchConfig, size: int | None, seed: int | None, eval_vectors: int, step) -> CalibrationStudy:
    """The error study of a digital bit-serial macro: ``size`` macros each evaluate their own random
    full tile on their own random vectors (drawn as the analog study draws them) through
    :func:`accelsim.hw.digital.digital_mvm`, and the outputs are measured against the integer product.
    There is nothing to calibrate (no converter, no device spread): before, after and floor are the
    same measurement, no calibration vector is spent, and its LSB is one MAC unit."""
    from accelsim.hw.digital import digital_mvm

    m = arch.macro
    size, seed = population_size_and_seed(arch, size, seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(6)[5])
    low, high = weight_range(m)
    weights = rng.integers(low, high + 1, (size, m.rows, m.weight_columns))
    x = rng.integers(0, input_max(m) + 1, (size, eval_vectors, m.rows))
    outputs, _ = digital_mvm(m, weights, x)
    for _ in range(5):
        step()
    rmse, sqnr = macro_errors(outputs, ideal_mvm(weights, x), 1.0)
    with np.errstate(invalid="ignore"):  # an exact macro's SQNR is infinite (reported as none)
        stats = error_stats(rmse, sqnr)
    if np.isnan(stats.sqnr_db_p5):  # the percentile of infinities: infinite as well
        stats = dataclasses.replace(stats, sqnr_db_p5=stats.sqnr_db_worst)
    return CalibrationStudy(
        macros=size, vectors=0, eval_vectors=eval_vectors, seed=seed, adc_trim=False, adc_lsb_levels=1.0,
        before=stats, after=stats, floor=stats,
        worst_rmse_reduction=_reduction(stats.rmse_lsb_worst, stats.rmse_lsb_worst),
        rmse_lsb_before=tuple(float(v) for v in rmse), rmse_lsb_after=tuple(float(v) for v in rmse),
        cycles_per_macro=0, counts=ActionCounts(),
    )
