import DPComm
import Foundation

/// What `Trainer.benchmark` measured: the timed steps after the warm-up, the phase split and each
/// rank's peak memory. Encodes as the JSON object `dptrain bench --json` prints.
public struct BenchmarkResult: Sendable, Encodable {
    public var worldSize: Int
    public var threadsPerRank: Int
    /// The ZeRO stage of the step (0 or 1).
    public var zeroStage: Int
    public var parameters: Int
    public var tokensPerStep: Int
    public var warmupSteps: Int
    public var steps: Int
    /// Wall milliseconds of each timed step (rank 0's clock; the all-reduce synchronizes the ranks).
    public var stepMilliseconds: [Double]
    public var medianMilliseconds: Double { median(stepMilliseconds) }
    public var minMilliseconds: Double { stepMilliseconds.min() ?? 0 }
    public var maxMilliseconds: Double { stepMilliseconds.max() ?? 0 }
    /// Tokens per second at the median step time.
    public var tokensPerSecond: Double { Double(tokensPerStep) / (medianMilliseconds / 1000) }
    /// FLOPs per token (6·N + attention) at the median step time ÷ `peakGFLOPS`.
    public var flopsPerToken: Double
    public var mfu: Double { flopsPerToken * tokensPerSecond / (peakGFLOPS * 1e9) }
    /// The job's sgemm roof: every rank's measured rate (the best of start-up and three after the
    /// timed steps), summed.
    public var peakGFLOPS: Double
    /// --bucket-mb and --grad-compression of the step.
    public var communication: ParallelConfig
    /// Median milliseconds per step of forward, backward, exposed communication (the time the
    /// step waited for the network after backward: the whole all-reduce with --bucket-mb 0, with
    /// the loss sum and ZeRO-1's weight all-gather) and update (scale, norm, clip, optimizer).
    public var forwardMilliseconds: Double
    public var backwardMilliseconds: Double
    public var allReduceMilliseconds: Double
    public var updateMilliseconds: Double
    /// Median milliseconds the exchange thread spent on a step's buckets, hidden or not.
    public var exchangeBusyMilliseconds: Double
    /// Median milliseconds of CPU the exchange thread used on a step (`ExchangeTimes.cpu`).
    public var exchangeCPUMilliseconds: Double = 0
    /// The buckets of the exchange (0: MPI's all-reduce after backward).
    public var buckets: Int = 0
    /// The exchange in two levels: [hosts, ranks per host]; nil: one flat ring (or none).
    public var hostLevels: [Int]? = nil
    /// Peak resident memory of each rank in MB (getrusage's ru_maxrss), by rank.
    public var peakRSSMB: [Double]
    /// The mean loss of the last timed step (a sanity check: synthetic tokens give ≈ ln(vocab)).
    public var lastLoss: Double

    enum CodingKeys: String, CodingKey {
        case worldSize = "ranks", threadsPerRank = "threads_per_rank", zeroStage = "zero", parameters, tokensPerStep = "tokens_per_step"
        case warmupSteps = "warmup_steps", steps, stepMilliseconds = "step_ms"
        case medianMilliseconds = "ms_per_step", minMilliseconds = "ms_min", maxMilliseconds = "ms_max"
        case tokensPerSecond = "tokens_per_s", flopsPerToken = "flops_per_token", mfu, peakGFLOPS = "peak_gflops"
        case forwardMilliseconds = "forward_ms", backwardMilliseconds = "backward_ms"
        case allReduceMilliseconds = "allreduce_ms", updateMilliseconds = "update_ms"
        case exposedMilliseconds = "exposed_comm_ms", exchangeBusyMilliseconds = "comm_busy_ms"
        case exchangeCPUMilliseconds = "comm_cpu_ms"
        case bucketMB = "bucket_mb", compression = "grad_compression"
        case peakRSSMB = "peak_rss_mb", lastLoss = "loss", buckets, hostLevels = "host_levels"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(worldSize, forKey: .worldSize)
        try c.encode(threadsPerRank, forKey: .threadsPerRank)
        try c.encode(zeroStage, forKey: .zeroStage)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(tokensPerStep, forKey: .tokensPerStep)
        try c.encode(warmupSteps, forKey: .warmupSteps)
        try c.encode(steps, forKey: .steps)
        try c.encode(stepMilliseconds, forKey: .stepMilliseconds)
        try c.encode(medianMilliseconds, forKey: .medianMilliseconds)
        try c.encode(minMilliseconds, forKey: .minMilliseconds)
        try c.encode(maxMilliseconds, forKey: .maxMilliseconds)
        try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
        try c.encode(flopsPerToken, forKey: .flopsPerToken)
        try c.encode(mfu, forKey: .mfu)
        try c.encode(peakGFLOPS, forKey: .peakGFLOPS)
        try c.encode(forwardMilliseconds, forKey: .forwardMilliseconds)
        try c.encode(backwardMilliseconds, forKey: .backwardMilliseconds)
        try c.encode(allReduceMilliseconds, forKey: .allReduceMilliseconds)
        try c.encode(updateMilliseconds, forKey: .updateMilliseconds)
        try c.encode(allReduceMilliseconds, forKey: .exposedMilliseconds)
        try c.encode(exchangeBusyMilliseconds, forKey: .exchangeBusyMilliseconds)
        try c.encode(exchangeCPUMilliseconds, forKey: .exchangeCPUMilliseconds)
        try c.encode(communication.bucketMB, forKey: .bucketMB)
        try c.encode(communication.gradientCompression.rawValue, forKey: .compression)
        try c.encode(buckets, forKey: .buckets)
        try c.encodeIfPresent(hostLevels, forKey: .hostLevels)
        try c.encode(peakRSSMB, forKey: .peakRSSMB)
        try c.encode(lastLoss, forKey: .lastLoss)
    }
}

/// The middle value (the mean of the two middle ones for an even count); 0 when empty.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted(), n = sorted.count
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}

/// This process's peak resident set in MB (Linux reports ru_maxrss in KiB).
func peakResidentMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

extension Trainer {
    /// Runs `warmup` untimed and then `steps` timed optimizer steps — the very step `run` takes —
    /// without evaluation, logging, hashing or checkpoints. Collective.
    public func benchmark(warmup: Int, steps: Int) throws -> BenchmarkResult {
        precondition(steps > 0 && warmup >= 0)
        for _ in 0..<warmup { _ = try trainStep() }
        try comm.barrier()
        var milliseconds: [Double] = [], forward: [Double] = [], backward: [Double] = []
        var allReduce: [Double] = [], update: [Double] = [], busy: [Double] = [], cpu: [Double] = []
        var loss = 0.0
        for _ in 0..<steps {
            let start = now()
            let result = try trainStep()
            milliseconds.append((now() - start) * 1000)
            forward.append(result.phases.forward * 1000)
            backward.append(result.phases.backward * 1000)
            allReduce.append(result.phases.allReduce * 1000)
            update.append(result.phases.update * 1000)
            busy.append(result.phases.exchangeBusy * 1000)
            cpu.append(result.phases.exchangeCPU * 1000)
            loss = result.loss
        }
        let rss = try comm.allGather(string: String(peakResidentMB())).map { Double($0) ?? 0 }
        // The roof again, with warm caches, best of three medians on every rank at once: on a
        // shared machine one median taken at start-up can land on a busy moment and put the
        // MFU above 100%.
        try comm.barrier()
        let roof = try comm.sum((0..<3).map { _ in BLAS.measurePeakGFLOPS() }.max()!)
        return BenchmarkResult(
            worldSize: comm.size, threadsPerRank: BLAS.threads, zeroStage: zeroStage, parameters: model.layout.count,
            tokensPerStep: tokensPerStep, warmupSteps: warmup, steps: steps, stepMilliseconds: milliseconds,
            flopsPerToken: model.config.flopsPerToken, peakGFLOPS: Swift.max(roof, peakFLOPS / 1e9),
            communication: runConfig.parallel,
            forwardMilliseconds: median(forward), backwardMilliseconds: median(backward),
            allReduceMilliseconds: median(allReduce), updateMilliseconds: median(update),
            exchangeBusyMilliseconds: median(busy), exchangeCPUMilliseconds: median(cpu), buckets: exchange?.buckets.count ?? 0,
            hostLevels: exchange?.hosts.map { [$0.cross.size, $0.local.size] },
            peakRSSMB: rss, lastLoss: loss)
    }
}
