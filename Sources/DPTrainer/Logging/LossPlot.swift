import Foundation

/// Draws a run's metrics as one standalone SVG document (no scripts, no external resources): a
/// large panel of train loss and val loss (line with dots) against the step, and a small panel
/// below of tokens/s against the same steps. From 50 logged steps on, the raw train loss is drawn
/// faint under its centred moving average. Both panels have axes, gridlines, tick labels
/// and axis titles; the loss panel has a legend with the last value of each series.
///
/// Element ids, for tools and tests: polylines `train-loss`, `train-loss-smoothed` (when drawn),
/// `val-loss`, `tokens-per-s`, and the group `val-loss-points`. O(points); coordinates are
/// rounded to 0.1 px.
public enum LossPlot {
    static let width = 860.0, height = 620.0
    /// Plot areas (the framed rectangles); the left margin holds tick labels and axis titles.
    static let left = 80.0, right = 840.0
    static let lossTop = 50.0, lossBottom = 380.0
    static let rateTop = 440.0, rateBottom = 570.0

    static let trainColor = "#1f77b4", valColor = "#d62728", rateColor = "#2ca02c"

    /// The SVG text of the plot; `title` (e.g. the run's folder) is shown on top.
    public static func svg(_ series: MetricsSeries, title: String) -> String {
        let steps = series.train.map { Double($0.step) } + series.validation.map { Double($0.step) }
        let losses = series.train.map(\.loss) + series.validation.map(\.loss)
        let rates = series.train.compactMap { point in point.tokensPerSecond.map { (point.step, $0) } }

        let x = PlotScale(covering: steps, pixels: (left, right), ticks: 8)
        let lossY = PlotScale(roundingOut: losses, fromZero: false, pixels: (lossBottom, lossTop), ticks: 6)
        let rateY = PlotScale(roundingOut: rates.map(\.1), fromZero: true, pixels: (rateBottom, rateTop), ticks: 3)

        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(px((left + right) / 2))" y="28" text-anchor="middle" font-size="16" font-weight="bold">\
            \(escape(title))</text>

            """
        svg += axes(x: x, y: lossY, top: lossTop, bottom: lossBottom, yTitle: "loss", xTitle: nil)
        let smoothed = smoothedTrainLoss(series.train)
        svg += polyline(id: "train-loss", series.train.map { (x(Double($0.step)), lossY($0.loss)) },
                        color: trainColor, width: smoothed == nil ? 1.5 : 1, opacity: smoothed == nil ? 1 : 0.35)
        if let smoothed {
            svg += polyline(id: "train-loss-smoothed", zip(series.train, smoothed).map { (x(Double($0.step)), lossY($1)) },
                            color: trainColor, width: 2)
        }
        svg += polyline(id: "val-loss", series.validation.map { (x(Double($0.step)), lossY($0.loss)) },
                        color: valColor, width: 2)
        svg += "<g id=\"val-loss-points\" fill=\"\(valColor)\">\n"
        for point in series.validation where point.loss.isFinite {
            svg += "<circle cx=\"\(px(x(Double(point.step))))\" cy=\"\(px(lossY(point.loss)))\" r=\"3\"/>\n"
        }
        svg += "</g>\n"
        svg += legend(series)

        svg += axes(x: x, y: rateY, top: rateTop, bottom: rateBottom, yTitle: "tokens/s", xTitle: "step")
        if rates.isEmpty {
            svg += "<text x=\"\(px((left + right) / 2))\" y=\"\(px((rateTop + rateBottom) / 2))\" "
                + "text-anchor=\"middle\" fill=\"#777\">no tokens/s logged</text>\n"
        }
        svg += polyline(id: "tokens-per-s", rates.map { (x(Double($0.0)), rateY($0.1)) }, color: rateColor, width: 1.5)
        svg += "</svg>\n"
        return svg
    }

    /// A framed plot area with gridlines, tick marks and labels on both axes, and axis titles.
    private static func axes(x: PlotScale, y: PlotScale, top: Double, bottom: Double, yTitle: String, xTitle: String?) -> String {
        var out = "<g class=\"axes\">\n"
        for tick in y.ticks {
            let py = px(y(tick))
            out += "<line x1=\"\(px(left))\" y1=\"\(py)\" x2=\"\(px(right))\" y2=\"\(py)\" stroke=\"#e6e6e6\"/>\n"
            out += "<line x1=\"\(px(left - 5))\" y1=\"\(py)\" x2=\"\(px(left))\" y2=\"\(py)\" stroke=\"#333\"/>\n"
            out += "<text x=\"\(px(left - 8))\" y=\"\(py)\" dy=\"4\" text-anchor=\"end\">\(y.label(tick))</text>\n"
        }
        for tick in x.ticks {
            let pxx = px(x(tick))
            out += "<line x1=\"\(pxx)\" y1=\"\(px(top))\" x2=\"\(pxx)\" y2=\"\(px(bottom))\" stroke=\"#e6e6e6\"/>\n"
            out += "<line x1=\"\(pxx)\" y1=\"\(px(bottom))\" x2=\"\(pxx)\" y2=\"\(px(bottom + 5))\" stroke=\"#333\"/>\n"
            out += "<text x=\"\(pxx)\" y=\"\(px(bottom + 18))\" text-anchor=\"middle\">\(x.label(tick))</text>\n"
        }
        out += "<rect x=\"\(px(left))\" y=\"\(px(top))\" width=\"\(px(right - left))\" height=\"\(px(bottom - top))\" "
            + "fill=\"none\" stroke=\"#333\"/>\n"
        let middle = px((top + bottom) / 2)
        out += "<text x=\"22\" y=\"\(middle)\" text-anchor=\"middle\" transform=\"rotate(-90 22 \(middle))\" "
            + "font-size=\"13\">\(escape(yTitle))</text>\n"
        if let xTitle {
            out += "<text x=\"\(px((left + right) / 2))\" y=\"\(px(bottom + 38))\" text-anchor=\"middle\" "
                + "font-size=\"13\">\(escape(xTitle))</text>\n"
        }
        return out + "</g>\n"
    }

    /// The series as one polyline; non-finite points are left out.
    private static func polyline(id: String, _ points: [(Double, Double)], color: String, width: Double, opacity: Double = 1) -> String {
        let coordinates = points.filter { $0.0.isFinite && $0.1.isFinite }.map { "\(px($0.0)),\(px($0.1))" }
        return "<polyline id=\"\(id)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\" "
            + (opacity < 1 ? "stroke-opacity=\"\(opacity)\" " : "")
            + "stroke-linejoin=\"round\" points=\"\(coordinates.joined(separator: " "))\"/>\n"
    }

    /// Below this many logged steps the train loss is drawn as is; from it on, faint, under its
    /// moving average.
    static let smoothingFrom = 50

    /// A centred moving average of the train loss, nil for short runs: point i averages the
    /// points i−r…i+r, with r = max(1, count/100) shrunk near the ends so the window stays
    /// symmetric. A centred window has no lag (a straight line is reproduced exactly), unlike
    /// TensorBoard's trailing exponential average, which draws a falling loss too high. A window
    /// holding a non-finite loss gives NaN, which is not drawn. O(count).
    static func smoothedTrainLoss(_ train: [MetricsSeries.TrainPoint]) -> [Double]? {
        let n = train.count
        guard n >= smoothingFrom else { return nil }
        let radius = max(1, n / 100)
        // Prefix sums of the finite losses and of the count of non-finite ones.
        var sums = [0.0], bad = [0]
        for point in train {
            sums.append(sums.last! + (point.loss.isFinite ? point.loss : 0))
            bad.append(bad.last! + (point.loss.isFinite ? 0 : 1))
        }
        return (0..<n).map { i in
            let r = min(radius, i, n - 1 - i)
            let (lo, hi) = (i - r, i + r + 1)
            return bad[hi] == bad[lo] ? (sums[hi] - sums[lo]) / Double(hi - lo) : .nan
        }
    }

    /// The legend, top right of the loss panel: a sample of each line and its last logged value.
    private static func legend(_ series: MetricsSeries) -> String {
        func last(_ step: Int?, _ loss: Double?) -> String {
            guard let step, let loss else { return "none logged" }
            return String(format: "%.4f", loss) + " at step \(step)"
        }
        let rows = [
            ("train loss", last(series.train.last?.step, series.train.last?.loss), trainColor, false),
            ("val loss", last(series.validation.last?.step, series.validation.last?.loss), valColor, true),
        ]
        let boxWidth = 250.0, rowHeight = 20.0
        let x0 = right - boxWidth - 10, y0 = lossTop + 10
        var out = "<g id=\"legend\">\n<rect x=\"\(px(x0))\" y=\"\(px(y0))\" width=\"\(px(boxWidth))\" "
            + "height=\"\(px(rowHeight * Double(rows.count) + 10))\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n"
        for (index, (name, value, color, dot)) in rows.enumerated() {
            let y = y0 + 5 + rowHeight * (Double(index) + 0.5)
            out += "<line x1=\"\(px(x0 + 10))\" y1=\"\(px(y))\" x2=\"\(px(x0 + 40))\" y2=\"\(px(y))\" "
                + "stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            if dot { out += "<circle cx=\"\(px(x0 + 25))\" cy=\"\(px(y))\" r=\"3\" fill=\"\(color)\"/>\n" }
            out += "<text x=\"\(px(x0 + 48))\" y=\"\(px(y))\" dy=\"4\">\(name): \(value)</text>\n"
        }
        return out + "</g>\n"
    }

    /// A coordinate rounded to 0.1 px, without "-0".
    private static func px(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let magnitude = abs(tenths)
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    /// Text made safe inside an XML element or attribute.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
