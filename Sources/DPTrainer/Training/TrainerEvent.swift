/// What the trainer reports as it runs. The trainer never prints: the CLI turns events into
/// console lines (on rank 0 only).
public enum TrainerEvent: Sendable {
    /// Set-up is done; a summary of the job.
    case started(Banner)
    /// Training continues from a checkpoint (with the checkpoints skipped as damaged, if any).
    case resumed(directory: String, step: Int, skipped: [String])
    /// One logged optimizer step.
    case step(StepMetrics)
    /// An evaluation on the val split after `step`.
    case evaluated(step: Int, valLoss: Double)
    /// A checkpoint was written.
    case checkpointed(step: Int, directory: String)
    /// Something the user should know that does not stop the run.
    case warning(String)
    /// Output of --debug checks.
    case debug(String)
    /// The run reached its last step.
    case finished(step: Int, seconds: Double)
}

/// The job as the banner shows it.
public struct Banner: Sendable {
    public var worldSize: Int
    /// The MPI library, or "none (single process)".
    public var mpi: String
    /// "host: N ranks" for every host, in rank order of first appearance.
    public var hosts: [String]
    public var threadsPerRank: Int
    public var blasKernel: String
    public var parameters: Int
    public var tokensPerStep: Int
    public var data: String
    public var tokenizer: String
    public var model: String
    public var peakGFLOPS: Double
}

/// The figures of one logged step (DESIGN.md §5).
public struct StepMetrics: Sendable, Codable {
    public var step: Int
    public var loss: Double
    public var lr: Double
    public var gradNorm: Double
    public var tokens: Int
    public var tokensPerSecond: Double
    public var mfu: Double
    public var elapsedSeconds: Double
    /// Milliseconds per step over the logged interval.
    public var millisecondsPerStep: Double
    /// Per-phase milliseconds of the last step (forward, backward, all-reduce, update), shown in --debug.
    public var phases: PhaseTimes

    enum CodingKeys: String, CodingKey {
        case step, loss, lr, tokens, mfu
        case gradNorm = "grad_norm"
        case tokensPerSecond = "tokens_per_s"
        case elapsedSeconds = "elapsed_s"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        loss = try c.decode(Double.self, forKey: .loss)
        lr = try c.decode(Double.self, forKey: .lr)
        gradNorm = try c.decode(Double.self, forKey: .gradNorm)
        tokens = try c.decode(Int.self, forKey: .tokens)
        tokensPerSecond = try c.decode(Double.self, forKey: .tokensPerSecond)
        mfu = try c.decode(Double.self, forKey: .mfu)
        elapsedSeconds = try c.decode(Double.self, forKey: .elapsedSeconds)
        millisecondsPerStep = 0
        phases = PhaseTimes()
    }

    init(step: Int, loss: Double, lr: Double, gradNorm: Double, tokens: Int, tokensPerSecond: Double,
         mfu: Double, elapsedSeconds: Double, millisecondsPerStep: Double, phases: PhaseTimes) {
        self.step = step
        self.loss = loss
        self.lr = lr
        self.gradNorm = gradNorm
        self.tokens = tokens
        self.tokensPerSecond = tokensPerSecond
        self.mfu = mfu
        self.elapsedSeconds = elapsedSeconds
        self.millisecondsPerStep = millisecondsPerStep
        self.phases = phases
    }
}

/// Seconds spent in each phase of a training step.
public struct PhaseTimes: Sendable {
    public var forward = 0.0
    public var backward = 0.0
    /// Exposed communication: the time the step waited for the network after backward ended
    /// (the whole all-reduce with --bucket-mb 0; what backward did not hide with buckets), with
    /// the loss sum and, for ZeRO-1, the weight all-gather.
    public var allReduce = 0.0
    public var update = 0.0
    /// Time the exchange thread spent on the step's buckets, hidden or not (0 without buckets).
    public var exchangeBusy = 0.0
    /// The exchange thread's CPU time in that time (`ExchangeTimes.cpu`).
    public var exchangeCPU = 0.0
    public init() {}
}
