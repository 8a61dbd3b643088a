import ArgumentParser
import DPBase
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

/// `dptrain bench`: the training step of `train`, timed on synthetic tokens.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the training step on synthetic tokens (no files are read or written).",
        discussion: """
            Builds the same model and Trainer as `train`, feeds it seeded random tokens of \
            --vocab-size, runs --warm-up untimed steps and then --steps timed ones, and prints on \
            rank 0 ms per step (median, min, max), tokens/s, MFU against the sgemm rate all ranks \
            measure at start-up, the median split into forward, backward, exposed communication \
            (the time the step waited for the network after backward ended; the whole all-reduce \
            with --bucket-mb 0) and update, how the gradients travelled (--bucket-mb, \
            --grad-compression) and the exchange thread's busy and CPU time, and each rank's peak RSS. --json prints the same as one JSON object.
            """)

    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Training (--steps: timed steps, default 20)") var training: TrainingOptions
    @OptionGroup(title: "Ranks") var runtime: RuntimeOptions

    @Option(help: "Vocabulary of the synthetic tokens.") var vocabSize = 65
    @Option(help: "Untimed steps before the timed ones.") var warmUp = 3
    @Flag(help: "Print one JSON object instead of the table.") var json = false

    func validate() throws {
        guard (2...(1 << 20)).contains(vocabSize) else {
            throw ValidationError("--vocab-size must be between 2 and 1048576, not \(vocabSize).")
        }
        guard warmUp >= 0 else { throw ValidationError("--warm-up must be 0 or more, not \(warmUp).") }
        if model.preset == .seed { throw ValidationError("bench times the gpt and gpt2 presets; drop --preset seed.") }
    }

    /// The gpt (or gpt2) preset with 20 timed steps, then the flags, resolved as `train` resolves a run.
    func runConfig() throws -> RunConfig {
        var flags = ConfigLayer()
        model.add(to: &flags)
        training.add(to: &flags)
        flags.flag("parallel.threads", runtime.threads)
        var base = RunConfig.defaults(model.preset ?? .gpt)
        base.training.steps = 20
        var config = try RunConfig.resolve(base: base, layers: [flags])
        // An encoder's vocabulary has the [MASK] token besides the data's.
        try config.adoptVocabulary(vocabSize + (config.model.architecture == .encoder ? 1 : 0), source: "--vocab-size")
        return config
    }

    func run() throws {
        let config: RunConfig
        do { config = try runConfig() } catch let error as ConfigError { throw CommandLineError(error.description) }
        Session.run(threads: config.parallel.threads, singleProcess: runtime.singleProcess) { session in
            let comm = session.comm
            session.warnIfSlowKernel()
            let t = config.training
            let rows = comm.size * t.batch * t.gradAccum * (config.model.context + 1)
            var dataset = Self.synthetic(vocabSize: vocabSize, count: max(1 << 16, 8 * rows), seed: t.seed)
            if config.model.architecture == .encoder { dataset = dataset.addingMaskToken() }
            let trainer = try Trainer(comm: comm, config: config, dataset: dataset, directory: nil, restore: nil, emit: { _ in })
            let result = try trainer.benchmark(warmup: warmUp, steps: t.steps)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                session.say(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                session.say(Self.table(result, model: config.model))
            }
        }
    }

    /// `count` train tokens (and a short val split) drawn uniformly from `vocabSize` by a seeded
    /// SplitMix64, with a char tokenizer of that many scalars so the banner can name it.
    static func synthetic(vocabSize: Int, count: Int, seed: UInt64) -> Dataset {
        var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15)
        func next() -> Int32 { Int32(truncatingIfNeeded: rng.next() % UInt64(vocabSize)) }
        let train = (0..<count).map { _ in next() }, val = (0..<4096).map { _ in next() }
        let scalars = (0..<vocabSize).map { Unicode.Scalar(UInt32(0x4E00 + $0)) ?? "?" }
        return Dataset(train: TokenSequence(train), val: TokenSequence(val),
                       tokenizer: CharTokenizer(scalars: scalars), source: "synthetic")
    }

    /// How the gradients travelled, and how long the exchange thread worked on them.
    static func communication(_ r: BenchmarkResult) -> String {
        let p = r.communication
        if r.worldSize == 1 { return "none (one rank)" }
        if p.bucketElements == 0 && p.gradientCompression == .none { return "one all-reduce after backward (--bucket-mb 0)" }
        let buckets = p.bucketElements == 0 ? "one bucket after backward"
            : "\(r.buckets) buckets of up to \(p.bucketMB.formatted()) MiB overlapped with backward"
        let levels = r.hostLevels.map { ", within each host then across \($0[0]) hosts (\($0[1]) ranks each)" } ?? ""
        let wire = p.gradientCompression == .bf16 ? "bf16" : "f32"
        return "\(buckets)\(levels), \(wire) on the wire; exchange thread busy \(String(format: "%.1f", r.exchangeBusyMilliseconds)) ms, of which CPU \(String(format: "%.1f", r.exchangeCPUMilliseconds)) ms"
    }

    static func table(_ r: BenchmarkResult, model c: ModelConfig) -> String {
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        let split = [r.forwardMilliseconds, r.backwardMilliseconds, r.allReduceMilliseconds, r.updateMilliseconds]
        let total = max(r.medianMilliseconds, 1e-9)
        return """
            dptrain bench: \(c.layers) layers, \(c.heads) heads, dim \(c.dim), context \(c.context), vocab \(c.vocabSize), \(r.parameters) parameters
            ranks × threads        \(r.worldSize) × \(r.threadsPerRank)
            tokens per step        \(r.tokensPerStep)
            steps                  \(r.steps) timed after \(r.warmupSteps) warm-up
            ms per step            \(f(r.medianMilliseconds)) median, \(f(r.minMilliseconds)) min, \(f(r.maxMilliseconds)) max
            tokens/s               \(f(r.tokensPerSecond, 0))
            MFU                    \(f(r.mfu * 100))% of \(f(r.peakGFLOPS)) GFLOP/s (sgemm, all ranks)
            split (median ms)      forward \(f(split[0])) (\(f(100 * split[0] / total, 0))%), backward \(f(split[1])) (\(f(100 * split[1] / total, 0))%), exposed comm \(f(split[2])) (\(f(100 * split[2] / total, 0))%), update \(f(split[3])) (\(f(100 * split[3] / total, 0))%)
            communication          \(communication(r))
            peak RSS (MB)          \(r.peakRSSMB.enumerated().map { "rank \($0.offset): \(f($0.element))" }.joined(separator: ", "))
            loss                   \(f(r.lastLoss, 3))
            """
    }
}
