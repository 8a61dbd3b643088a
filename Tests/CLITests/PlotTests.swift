import DPTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// Collects every element of an XML document with its attributes.
private final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append((elementName, attributes))
    }

    /// The elements of `data`, or nil if it is not well-formed XML.
    static func parse(_ data: Data) -> [(name: String, attributes: [String: String])]? {
        let parser = XMLParser(data: data)
        let collector = ElementCollector()
        parser.delegate = collector
        return parser.parse() ? collector.elements : nil
    }
}

/// `dptrain plot OUT [-o FILE]`, run as a user runs it.
@Suite struct PlotTests {
    /// A run folder holding `metrics` as its metrics.jsonl (nil: no such file).
    private func runFolder(metrics: String?) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        if let metrics { try metrics.write(to: folder.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8) }
        return folder
    }

    /// Metrics as the trainer writes them: 60 logged steps, an evaluation every 20.
    private var syntheticMetrics: String {
        var lines: [String] = []
        for step in 1...60 {
            let loss = 4.2 * exp(-Double(step) / 25) + 1.4
            lines.append(#"{"elapsed_s":\#(Double(step) * 0.8),"grad_norm":1.1,"loss":\#(loss),"lr":0.0003,"mfu":0.02,"step":\#(step),"tokens":\#(step * 2048),"tokens_per_s":\#(2500 + step % 5 * 10)}"#)
            if step % 20 == 0 { lines.append(#"{"step":\#(step),"val_loss":\#(loss + 0.1)}"#) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func plotOfSyntheticMetricsIsXMLWithBothSeries() throws {
        let folder = try runFolder(metrics: syntheticMetrics)
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try Run.process(Run.product("dptrain"), ["plot", folder.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("wrote \(folder.path)/loss.svg (60 logged steps, 3 evaluations)"), "\(result.stdout)")

        let elements = try #require(ElementCollector.parse(try Data(contentsOf: folder.appendingPathComponent("loss.svg"))),
                                    "loss.svg must be well-formed XML")
        #expect(elements.first?.name == "svg")
        #expect(elements.first?.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        func points(_ id: String) -> Int? {
            elements.first { $0.name == "polyline" && $0.attributes["id"] == id }?
                .attributes["points"]?.split(separator: " ").count
        }
        #expect(points("train-loss") == 60)
        #expect(points("val-loss") == 3)
        #expect(points("tokens-per-s") == 60)
        let texts = elements.filter { $0.name == "text" }.count
        #expect(texts > 15, "tick labels, axis titles, legend: \(texts) text elements")
    }

    @Test func outputOptionChoosesTheFile() throws {
        let folder = try runFolder(metrics: syntheticMetrics)
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("elsewhere.svg")
        let result = try Run.process(Run.product("dptrain"), ["plot", folder.path, "-o", target.path], timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: target.path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("loss.svg").path))
    }

    static let failures: [(name: String, metrics: String?, complaint: String)] = [
        ("missing folder", nil, "does not exist"),
        ("no metrics.jsonl", "", "metrics.jsonl does not exist"),
        ("empty metrics.jsonl", "\n", "holds no metrics yet"),
        ("malformed third line", #"{"step":1,"loss":2}"# + "\n" + #"{"step":2,"loss":1.9}"# + "\n{\"step\":3,\n", "metrics.jsonl line 3 is not valid JSON"),
    ]

    /// Each failure is one line on stderr naming the problem, and a non-zero exit.
    @Test(arguments: failures)
    func failuresAreOneSentence(case name: String, metrics: String?, complaint: String) throws {
        let folder = try runFolder(metrics: metrics == "" ? nil : metrics)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = name == "missing folder" ? folder.appendingPathComponent("absent").path : folder.path
        let result = try Run.process(Run.product("dptrain"), ["plot", out], timeout: 60)
        #expect(result.status != 0, "\(name)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(name): \(result.stderr)")
        #expect(lines.first?.hasPrefix("dptrain: error: ") == true, "\(name): \(result.stderr)")
        #expect(result.stderr.contains(complaint), "\(name): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("loss.svg").path))
    }
}
