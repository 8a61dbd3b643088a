import Foundation
import Testing
@testable import DPTrainer

/// The numbers of a polyline's `points` attribute in an SVG string, as (x, y) pairs.
func polylinePoints(_ svg: String, id: String) -> [(x: Double, y: Double)]? {
    guard let start = svg.range(of: "<polyline id=\"\(id)\""),
          let points = svg[start.upperBound...].range(of: "points=\""),
          let end = svg[points.upperBound...].firstIndex(of: "\"") else { return nil }
    return svg[points.upperBound..<end].split(separator: " ").compactMap { pair in
        let xy = pair.split(separator: ",").compactMap { Double($0) }
        return xy.count == 2 ? (xy[0], xy[1]) : nil
    }
}

@Suite struct MetricsSeriesTests {
    @Test func readsTrainAndValLinesSortedBySteps() throws {
        let text = """
            {"elapsed_s":1.5,"grad_norm":0.9,"loss":4.25,"lr":0.0003,"mfu":0.01,"step":1,"tokens":512,"tokens_per_s":341.3}
            {"step":3,"loss":3.5}

            {"step":2,"loss":4,"tokens_per_s":400,"extra":[1,2]}
            {"step":2,"val_loss":4.1}
            {"step":1,"val_loss":4.4}
            """
        let history = try MetricsSeries(jsonLines: text, name: "m.jsonl")
        let crlf = try MetricsSeries(jsonLines: text.replacingOccurrences(of: "\n", with: "\r\n"), name: "m.jsonl")
        #expect(crlf == history, "CRLF line ends read the same")
        #expect(history.train == [
            .init(step: 1, loss: 4.25, tokensPerSecond: 341.3),
            .init(step: 2, loss: 4, tokensPerSecond: 400),
            .init(step: 3, loss: 3.5, tokensPerSecond: nil),
        ])
        #expect(history.validation == [.init(step: 1, loss: 4.4), .init(step: 2, loss: 4.1)])
    }

    static let badLines: [(line: String, complaint: String)] = [
        (#"{"step":2,"loss":"#, "is not valid JSON"),
        ("[1, 2]", "is not a JSON object"),
        (#"{"loss":1}"#, #"has no "step""#),
        (#"{"step":1.5,"loss":1}"#, #"has a "step" that is not an integer"#),
        (#"{"step":"two","loss":1}"#, #"has a "step" that is not an integer"#),
        (#"{"step":2,"loss":"low"}"#, #"has a "loss" that is not a number"#),
        (#"{"step":2,"mfu":0.1}"#, #"has neither "loss" nor "val_loss""#),
    ]

    /// A bad second line is named by its number, with what is wrong.
    @Test(arguments: badLines)
    func aBadLineIsNamed(line: String, complaint: String) throws {
        let text = #"{"step":1,"loss":2}"# + "\n" + line + "\n"
        let error = try #require(throws: MetricsFileError.self) { try MetricsSeries(jsonLines: text, name: "run/metrics.jsonl") }
        #expect(error.line == 2)
        #expect(error.description == "run/metrics.jsonl line 2 " + complaint)
    }

    @Test func aMissingFileSaysSo() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-absent-\(UUID().uuidString)/metrics.jsonl")
        let error = try #require(throws: MetricsFileError.self) { try MetricsSeries(contentsOf: url) }
        #expect(error.description.hasPrefix(url.path + " does not exist"))
    }
}

@Suite struct PlotScaleTests {
    static let steps: [(raw: Double, step: Double)] = [(0.37, 0.5), (13, 10), (0.0021, 0.002), (7.6, 10), (300, 200), (1, 1)]

    @Test(arguments: steps)
    func stepsAreOneTwoFiveTimesAPowerOfTen(raw: Double, step: Double) {
        #expect(abs(PlotScale.niceStep(raw) - step) <= 1e-12 * step)
    }

    @Test func lossAxisRoundsOutToTicks() {
        let scale = PlotScale(roundingOut: [1.23, 4.56], fromZero: false, pixels: (380, 50), ticks: 6)
        #expect(scale.lo == 1 && scale.hi == 5 && scale.tickStep == 0.5)
        #expect(scale.ticks.map(scale.label) == ["1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0"])
        #expect(scale(1) == 380 && scale(5) == 50, "the domain's ends map to the pixel range's ends")
        #expect(abs(scale(3) - 215) < 1e-9)
    }

    @Test func largeRatesUseThousandsAndZeroHasNoSign() {
        let scale = PlotScale(roundingOut: [41_000, 118_000], fromZero: true, pixels: (570, 440), ticks: 3)
        #expect(scale.lo == 0 && scale.hi == 150_000)
        #expect(scale.ticks.map(scale.label) == ["0", "50k", "100k", "150k"])
        let around = PlotScale(roundingOut: [-0.3, 0.2], fromZero: false, pixels: (1, 0), ticks: 5)
        #expect(around.ticks.map(around.label).contains("0.0") && !around.ticks.map(around.label).contains("-0.0"))
    }

    @Test func aSingleStepStillHasARange() {
        let scale = PlotScale(covering: [7], pixels: (80, 840), ticks: 8)
        #expect(scale.lo < 7 && scale.hi > 7 && scale(7) == 460)
        #expect(scale.ticks == [6, 7, 8], "steps are whole numbers, so are their ticks")
        let flat = PlotScale(roundingOut: [2, 2], fromZero: false, pixels: (380, 50), ticks: 6)
        #expect(flat.lo < 2 && flat.hi > 2)
    }
}

@Suite struct LossPlotTests {
    static let series = MetricsSeries(
        train: (1...200).map { .init(step: $0, loss: 4 * exp(-Double($0) / 60) + 1.5, tokensPerSecond: 900 + Double($0 % 7)) },
        validation: stride(from: 25, through: 200, by: 25).map { .init(step: $0, loss: 4 * exp(-Double($0) / 60) + 1.7) })

    @Test func bothLossSeriesAreDrawnInsideTheLossPanel() throws {
        let svg = LossPlot.svg(Self.series, title: "run")
        let train = try #require(polylinePoints(svg, id: "train-loss"))
        let val = try #require(polylinePoints(svg, id: "val-loss"))
        let rate = try #require(polylinePoints(svg, id: "tokens-per-s"))
        #expect(train.count == 200 && val.count == 8 && rate.count == 200)
        #expect(train.first?.x == LossPlot.left && train.last?.x == LossPlot.right, "steps 1 and 200 span the x axis")
        #expect(zip(train, train.dropFirst()).allSatisfy { $0.x < $1.x })
        #expect(zip(train, train.dropFirst()).allSatisfy { $0.y < $1.y }, "falling loss is drawn going down (SVG y grows downwards)")
        for point in train + val {
            #expect((LossPlot.lossTop...LossPlot.lossBottom).contains(point.y))
        }
        for point in rate {
            #expect((LossPlot.rateTop...LossPlot.rateBottom).contains(point.y))
        }
        #expect(svg.components(separatedBy: "<circle").count - 1 == 8 + 1, "a dot per evaluation, one in the legend")
        #expect(svg.contains("train loss: 1.6427 at step 200"), "the legend gives the last train loss")
    }

    @Test func theTitleIsEscaped() {
        let svg = LossPlot.svg(Self.series, title: "a<b & \"c\"")
        #expect(svg.contains(">a&lt;b &amp; &quot;c&quot;</text>"))
        #expect(!svg.contains("a<b"))
    }

    @Test func aRunWithoutEvaluationsOrRatesStillPlots() throws {
        let history = MetricsSeries(train: [.init(step: 5, loss: 3, tokensPerSecond: nil)], validation: [])
        let svg = LossPlot.svg(history, title: "t")
        #expect(try #require(polylinePoints(svg, id: "train-loss")).count == 1)
        #expect(try #require(polylinePoints(svg, id: "val-loss")).isEmpty)
        #expect(svg.contains("no tokens/s logged"))
        #expect(svg.contains("val loss: none logged"))
    }

    @Test func longRunsGetASmoothedTrainLineThatFollowsTheMeanWithoutLag() throws {
        // Alternating ±0.3 around 2 over 400 steps: radius 4, so 9-point windows, off the mean by 0.3/9.
        let points = (1...400).map { MetricsSeries.TrainPoint(step: $0, loss: 2 + ($0 % 2 == 0 ? 0.3 : -0.3), tokensPerSecond: nil) }
        let smoothed = try #require(LossPlot.smoothedTrainLoss(points))
        #expect(smoothed.count == 400)
        #expect(abs(smoothed[0] - 1.7) < 1e-9 && abs(smoothed[399] - 2.3) < 1e-9, "the end points have no neighbours on one side")
        for value in smoothed[4..<396] {
            #expect(abs(value - 2) <= 0.3 / 9 + 1e-12, "\(value)")
        }
        // A centred window reproduces a straight line: no lag behind a falling loss (tolerance: rounding).
        let line = (1...300).map { MetricsSeries.TrainPoint(step: $0, loss: 5 - 0.01 * Double($0), tokensPerSecond: nil) }
        let straight = try #require(LossPlot.smoothedTrainLoss(line))
        #expect(zip(straight, line).allSatisfy { abs($0 - $1.loss) < 1e-9 })
        // A non-finite loss blanks only the windows that hold it.
        var spiky = line
        spiky[100].loss = .infinity
        let blanked = try #require(LossPlot.smoothedTrainLoss(spiky))
        #expect(blanked.indices.filter { blanked[$0].isNaN } == Array(97...103), "radius 3 around index 100")
        #expect(LossPlot.smoothedTrainLoss(Array(points.prefix(LossPlot.smoothingFrom - 1))) == nil)

        let svg = LossPlot.svg(MetricsSeries(train: points, validation: []), title: "t")
        #expect(try #require(polylinePoints(svg, id: "train-loss-smoothed")).count == 400)
        #expect(polylinePoints(LossPlot.svg(Self.series, title: "t"), id: "train-loss-smoothed")?.count == 200)
    }
}
