import Foundation

/// A linear map from a data interval onto a pixel interval, with "nice" 1-2-5 ticks, for the SVG
/// plots. The domain is never empty: a single value is widened around itself.
struct PlotScale {
    let lo: Double, hi: Double
    let from: Double, to: Double
    /// Tick spacing: 1, 2 or 5 times a power of ten.
    let tickStep: Double

    /// A scale over exactly [min, max] of `values` (for steps), ticks inside it, at whole numbers.
    init(covering values: [Double], pixels: (from: Double, to: Double), ticks: Int) {
        var (lo, hi) = Self.bounds(values)
        if lo == hi { (lo, hi) = (lo - 1, hi + 1) }
        self.lo = lo
        self.hi = hi
        (from, to) = pixels
        tickStep = max(1, Self.niceStep((hi - lo) / Double(ticks)))
    }

    /// A scale whose ends are rounded outward to ticks (for losses and rates), optionally from 0.
    init(roundingOut values: [Double], fromZero: Bool, pixels: (from: Double, to: Double), ticks: Int) {
        var (lo, hi) = Self.bounds(values)
        if fromZero { lo = min(lo, 0) }
        if lo == hi {
            let pad = max(abs(lo) * 0.1, 0.5)
            (lo, hi) = (lo - pad, hi + pad)
        }
        let step = Self.niceStep((hi - lo) / Double(ticks))
        self.lo = (lo / step).rounded(.down) * step
        self.hi = (hi / step).rounded(.up) * step
        (from, to) = pixels
        tickStep = step
    }

    /// The pixel coordinate of `value`.
    func callAsFunction(_ value: Double) -> Double {
        from + (value - lo) / (hi - lo) * (to - from)
    }

    /// The multiples of `tickStep` inside the domain, in increasing order.
    var ticks: [Double] {
        let first = (lo / tickStep - 1e-9).rounded(.up), last = (hi / tickStep + 1e-9).rounded(.down)
        guard first <= last else { return [] }
        return stride(from: first, through: last, by: 1).map { $0 * tickStep }
    }

    /// A tick label: as many decimals as the step needs, with k or M for large magnitudes; zero unsigned.
    func label(_ value: Double) -> String {
        let magnitude = max(abs(lo), abs(hi))
        let (unit, suffix) = magnitude >= 1e7 ? (1e6, "M") : magnitude >= 1e4 ? (1e3, "k") : (1.0, "")
        let decimals = max(0, -Int((log10(tickStep / unit) + 1e-9).rounded(.down)))
        let text = String(format: "%.\(decimals)f", value / unit)
        guard Double(text) != 0 else { return suffix.isEmpty ? String(text.drop { $0 == "-" }) : "0" }
        return text + suffix
    }

    /// A 1-2-5 multiple of a power of ten near `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let power = pow(10, log10(raw).rounded(.down))
        let fraction = raw / power
        return (fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10) * power
    }

    private static func bounds(_ values: [Double]) -> (Double, Double) {
        let finite = values.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return (0, 1) }
        return (lo, hi)
    }
}
