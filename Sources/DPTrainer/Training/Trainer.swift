import DPComm
import DPData
import DPModel
import Foundation

/// Data-parallel training on every rank: each rank holds a replica of the model, runs forward and
/// backward on its own rows of every global batch, the ranks sum the gradients with one all-reduce,
/// and every replica takes the same optimizer step. Rank 0 writes metrics and checkpoints.
///
/// Letters: W ranks, B rows per rank per micro-step, A micro-steps per optimizer step, T context.
public final class Trainer {
    public let comm: any Communicator
    public let model: Model
    /// The run's settings, resolved and validated by the caller (`RunConfig.resolve`).
    public let runConfig: RunConfig
    /// The training settings: batch, optimizer, schedule, cadence.
    public var config: TrainingConfig { runConfig.training }
    let dataset: Dataset
    /// The checkpoint whose weights a new run started from (`--init-from`), for the banner.
    let initializedFrom: String?
    /// OUT on rank 0; nil on the other ranks and for benchmarks, which write no files at all.
    let directory: RunDirectory?
    let emit: (TrainerEvent) -> Void

    var sampler: BatchSampler
    let evalReader: EvalReader
    let optimizer: OptimizerState
    let schedule: LearningRateSchedule

    /// Optimizer updates done so far ("step N" = after N updates).
    public internal(set) var step = 0
    public internal(set) var tokensSeen = 0
    /// Training seconds of earlier runs that this one resumed.
    var elapsedBefore = 0.0
    /// Test-only faults armed by DPTRAIN_FAULT, read once.
    let faults = (perturbReplica: TestFault.perturbReplica.isArmed(), failCheckpointWrite: TestFault.failCheckpointWrite.isArmed())
    /// The sgemm rate of the whole job, in FLOP/s, measured at start-up (MFU's denominator).
    let peakFLOPS: Double
    /// Ends the job when a step's collective makes no progress for --collective-timeout; nil for
    /// one rank.
    let watchdog: CollectiveWatchdog?

    let tokens: UnsafeMutableBufferPointer<Int32>
    let targets: UnsafeMutableBufferPointer<Int32>
    /// An encoder's masked-token corruption of every batch (`TokenMasking`); nil for a decoder.
    let masking: TokenMasking?
    /// ZeRO stage: 0 all-reduces the gradients and every rank updates every weight; 1
    /// reduce-scatters them, each rank updates its shard of the weights and optimizer state, and an
    /// all-gather brings the weights back together.
    public var zeroStage: Int { runConfig.parallel.zeroStage }
    /// ZeRO-1: this rank's part of the reduced gradients (empty otherwise).
    let gradientShard: UnsafeMutableBufferPointer<Float>
    /// The bucketed all-reduce overlapped with backward (--bucket-mb, --grad-compression); nil:
    /// one all-reduce after backward.
    let exchange: BucketedExchange?

    /// W·B·A·T: tokens that one optimizer step trains on.
    public var tokensPerStep: Int { comm.size * config.batch * config.gradAccum * model.config.context }

    /// Builds the replica on this rank: measures the roof, builds the model, the samplers and the
    /// optimizer, then takes the checkpoint's state or a fresh initialization, and makes every
    /// replica rank 0's. Collective: every rank calls it; a failure on any rank is thrown on every
    /// rank as a `RankFailure`.
    ///
    /// - Parameters:
    ///   - config: the run, resolved and validated (`RunConfig.resolve`, `adoptVocabulary`).
    ///   - directory: OUT on rank 0 (`RunDirectory.prepare`; its logs are opened before `run`); nil on
    ///     the other ranks, and everywhere for a benchmark (then only `benchmark` is meaningful).
    ///   - restore: a checkpoint to continue from, or nil for a new run.
    ///   - initFrom: for a new run, a checkpoint whose weights it starts from (`--init-from`;
    ///     not its optimizer state, step or data position); nil: initialized from the seed.
    public init(
        comm: any Communicator, config: RunConfig, dataset: Dataset, directory: RunDirectory?, restore: Restore?,
        initFrom: Restore? = nil, emit: @escaping (TrainerEvent) -> Void
    ) throws {
        self.comm = comm
        self.runConfig = config
        self.dataset = dataset
        self.initializedFrom = initFrom?.directory
        self.directory = directory
        self.emit = emit
        let training = config.training
        schedule = training.learningRateSchedule
        peakFLOPS = try Self.measureRoof(comm: comm)
        watchdog = comm.size == 1 ? nil : CollectiveWatchdog(
            limit: .init(setting: config.parallel.collectiveTimeout), rank: comm.rank, hosts: try comm.allGather(string: comm.hostname))

        let rank = comm.rank, W = comm.size
        masking = config.model.architecture == .encoder ? TokenMasking(seed: training.seed, tokenizer: dataset.tokenizer) : nil
        (model, sampler, evalReader) = try comm.collectively {
            if config.model.architecture == .encoder && dataset.tokenizer.maskToken == nil {
                throw ConfigError("an encoder trains on masked tokens, but the data's tokenizer has no [MASK] token (Dataset.addingMaskToken adds it).")
            }
            let model = try Model(config: config.model, maxBatch: training.batch)
            let sampler = try BatchSampler(
                kind: training.sampler, tokens: dataset.train, batch: training.batch,
                context: config.model.context, stride: dataset.windowStride, rank: rank, worldSize: W, seed: training.seed)
            let evalReader = EvalReader(
                tokens: dataset.val, batch: training.batch, context: config.model.context, stride: dataset.windowStride,
                rank: rank, worldSize: W)
            return (model, sampler, evalReader)
        }
        optimizer = OptimizerState(
            config: training, count: model.layout.count, shardOf: config.parallel.zeroStage == 1 ? (rank, W) : nil)
        gradientShard = .allocate(capacity: config.parallel.zeroStage == 1 ? optimizer.shard.count : 0)
        exchange = try Self.makeExchange(
            comm: comm, parallel: config.parallel, gradients: model.gradients,
            frontiers: model.gradientFrontiers, shardCounts: config.parallel.zeroStage == 1 ? optimizer.counts : nil, shard: gradientShard)
        tokens = .allocate(capacity: training.batch * config.model.context)
        targets = .allocate(capacity: training.batch * config.model.context)

        if let restore {
            try apply(restore)
        } else if let initFrom {
            try comm.collectively { try initFrom.loadWeights(into: model) }
        } else {
            model.initializeParameters(seed: training.seed)
        }
        // Identical replicas: everyone takes rank 0's weights, then the hashes must agree. Watched
        // like a step's collectives: a rank or link that fails at start-up must not hang the job.
        if TestFault.stallAtStart.isArmed() && comm.rank == comm.size - 1 && comm.size > 1 { sleep(600) }
        try watched("broadcast of the weights at start-up (MPI_Bcast)", step: step) { try comm.broadcast(model.parameters, root: 0) }
        try checkReplicasAgree()
    }

    /// MFU's roof: every rank runs a short sgemm at once, and their rates add up to the job's
    /// FLOP/s. Measured before the model exists, so that its matrices do not add to the peak memory.
    static func measureRoof(comm: any Communicator) throws -> Double {
        try comm.barrier()
        return try comm.sum(BLAS.measurePeakGFLOPS()) * 1e9
    }

    deinit {
        tokens.deallocate()
        targets.deallocate()
        gradientShard.deallocate()
        optimizer.deallocate()
    }

    /// Trains from the current step to `config.steps` (or to `stopAt`, as a preempted job would
    /// stop: with a checkpoint, so that `--resume` continues exactly), evaluating, logging and
    /// checkpointing on the way.
    public func run(stopAt: Int? = nil) throws {
        let last = min(config.steps, stopAt ?? config.steps)
        try emit(.started(banner()))
        if config.debug && step == 0 { try gradientSpotCheck() }
        if step >= config.steps {
            emit(.warning("the checkpoint is already at step \(step) of \(config.steps); nothing to train."))
        }
        let start = now()
        var interval = (steps: 0, seconds: 0.0)
        while step < last {
            let stepStart = now()
            let result = try trainStep()
            interval.steps += 1
            interval.seconds += now() - stepStart
            watchdog?.stepTook(now() - stepStart)

            if step % config.logEvery == 0 || step == last {
                let secondsPerStep = interval.seconds / Double(interval.steps)
                let tokensPerSecond = Double(tokensPerStep) / secondsPerStep
                let metric = StepMetrics(
                    step: step, loss: result.loss, lr: Double(result.lr), gradNorm: Double(result.gradNorm),
                    tokens: tokensSeen, tokensPerSecond: tokensPerSecond,
                    mfu: model.config.flopsPerToken * tokensPerSecond / peakFLOPS,
                    elapsedSeconds: elapsedBefore + now() - start, millisecondsPerStep: secondsPerStep * 1000,
                    phases: result.phases)
                try directory?.metrics?.append(metric)
                try directory?.tensorBoard?.add(metric)
                emit(.step(metric))
                interval = (0, 0)
            }
            if step == 2 && comm.rank == comm.size - 1 && comm.size > 1 && faults.perturbReplica { model.parameters[0] += 1e-3 }
            if config.debug || step % config.hashEvery == 0 { try checkReplicasAgree() }
            if config.evalEvery > 0 && (step % config.evalEvery == 0 || step == config.steps) {
                if let valLoss = try evaluate() {
                    try directory?.metrics?.appendEvaluation(step: step, valLoss: valLoss)
                    try directory?.tensorBoard?.addEvaluation(step: step, valLoss: valLoss)
                    emit(.evaluated(step: step, valLoss: valLoss))
                }
            }
            let signal = try watched("stop-signal check (MPI_Allreduce)", step: step) { try comm.max(Int64(StopSignal.pending)) }
            if (config.checkpointEvery > 0 && step % config.checkpointEvery == 0) || step == last || signal != 0 {
                try saveCheckpoint(elapsed: elapsedBefore + now() - start)
            }
            if signal != 0 { throw StoppedBySignal(signal: Int32(signal), step: step) }
        }
        emit(.finished(step: step, seconds: now() - start))
    }

    /// One optimizer step: A micro-steps of forward and backward, the gradient all-reduce, the
    /// global-norm clip and the update; identical on every rank from the all-reduce on. With an
    /// `exchange`, the last micro-step's backward hands each bucket to the exchange thread as it
    /// becomes final, and the step then waits for the rest.
    func trainStep() throws -> (loss: Double, lr: Float, gradNorm: Float, phases: PhaseTimes) {
        let (A, B, T) = (config.gradAccum, config.batch, model.config.context)
        var phases = PhaseTimes()
        model.zeroGradients()
        var localLoss = 0.0
        for micro in 0..<A {
            sampler.next(tokens: tokens.baseAddress!, targets: targets.baseAddress!)
            mask(step: step + 1, micro: micro)
            var mark = now()
            localLoss += Double(model.forward(tokens: UnsafeBufferPointer(tokens), targets: UnsafeBufferPointer(targets), batch: B, time: T))
            phases.forward += now() - mark
            mark = now()
            if let exchange, micro == A - 1 { backwardStartingExchange(exchange) } else { model.backward() }
            phases.backward += now() - mark
        }
        // The exchange thread's MPI calls end before the main thread's next one (SERIALIZED);
        // with it, --debug does not look for a non-finite gradient before the reduction: the check
        // of the reduced loss and norm below names the first non-finite tensor on every rank.
        if let exchange {
            let times = try watched("gradient exchange (bucketed ring)", step: step + 1) { try exchange.finish() }
            phases.allReduce = times.exposed
            phases.exchangeBusy = times.busy
            phases.exchangeCPU = times.cpu
        } else if config.debug { try checkLocalFinite(loss: localLoss) }

        return try finishStep(localLoss: localLoss, phases: phases)
    }

    /// The end of a step after the micro-steps, for ZeRO-0 and ZeRO-1 alike: the reduction of the
    /// gradients (all-reduced, or with ZeRO-1 reduce-scattered so that each rank holds the sum of
    /// its shard) unless the exchange has done it, the global norm, the clip and the update of the
    /// weights this rank owns, then (ZeRO-1) the all-gather of the weights. The phases count every
    /// collective as all-reduce.
    func finishStep(localLoss: Double, phases: PhaseTimes) throws -> (loss: Double, lr: Float, gradNorm: Float, phases: PhaseTimes) {
        let (W, A) = (comm.size, config.gradAccum)
        let sharded = zeroStage == 1
        var phases = phases
        var mark = now()
        if exchange == nil {
            if sharded {
                try watched("gradient reduce-scatter (MPI_Reduce_scatter)", step: step + 1) {
                    try comm.reduceScatterSum(UnsafeBufferPointer(model.gradients), into: gradientShard, counts: optimizer.counts)
                }
            } else {
                try watched("gradient all-reduce (MPI_Allreduce)", step: step + 1) { try comm.allReduceSum(model.gradients) }
            }
        }
        let loss = try watched("loss sum (MPI_Allreduce)", step: step + 1) { try comm.sum(localLoss) } / Double(W * A)
        phases.allReduce += now() - mark

        mark = now()
        // The mean gradient is sum/(W·A); the scale and the clip are folded into the update. The
        // norm is over every gradient: this rank's all of them, or with ZeRO-1 every shard's.
        let mean = 1 / Float(W * A)
        let reduced = UnsafeBufferPointer(sharded ? gradientShard : model.gradients)
        var squares = sumOfSquares(reduced)
        if sharded { squares = try watched("gradient-norm sum (MPI_Allreduce)", step: step + 1) { try comm.sum(squares) } }
        let norm = Float(squares.squareRoot()) * mean
        guard loss.isFinite, norm.isFinite else {
            throw NonFiniteError(step: step + 1, loss: loss, tensor: try firstNonFiniteReducedGradient())
        }
        let lr = schedule.rate(atStep: step + 1)
        optimizer.update(model: model, gradients: sharded ? UnsafeBufferPointer(optimizer.byParameterIndex(gradientShard)) : reduced,
                         learningRate: lr, step: step + 1, gradientScale: mean * clipFactor(norm: norm))
        phases.update = now() - mark

        if sharded {
            mark = now()
            if let exchange {
                try watched("weight all-gather (bucketed ring)", step: step + 1) { try exchange.allGather(model.parameters) }
            } else {
                try watched("weight all-gather (MPI_Allgatherv)", step: step + 1) { try comm.allGather(inPlace: model.parameters, counts: optimizer.counts) }
            }
            phases.allReduce += now() - mark
        }
        step += 1
        tokensSeen += tokensPerStep
        return (loss, lr, norm, phases)
    }

    /// An encoder's masking of micro-step `micro` of step `step` (1-based) in the batch buffers:
    /// this rank's rows are rows (micro·W + rank)·B ..< +B of the step's global batch. A decoder's
    /// batch is left as the sampler wrote it.
    func mask(step: Int, micro: Int) {
        let (B, T) = (config.batch, model.config.context)
        masking?.apply(tokens: tokens.baseAddress!, targets: targets.baseAddress!, rows: B, time: T,
                       stream: UInt64(step), firstRow: (micro * comm.size + comm.rank) * B)
    }

    /// The factor that clips the mean gradient of norm `norm` to --clip (1 when it is within).
    func clipFactor(norm: Float) -> Float {
        config.clip > 0 && norm > config.clip ? config.clip / norm : 1
    }

    /// The first tensor whose reduced gradient is not finite. With ZeRO-1 each rank knows its
    /// shard, and the lowest rank's first bad tensor is the one named (collective).
    func firstNonFiniteReducedGradient() throws -> String? {
        guard zeroStage == 1 else { return firstNonFiniteGradient() }
        let shard = optimizer.shard
        let local = model.layout.tensors.first { spec in
            spec.range.clamped(to: shard).contains { !gradientShard[$0 - shard.lowerBound].isFinite }
        }?.name
        return try comm.allGather(string: local ?? "").first { !$0.isEmpty }
    }

    /// The mean loss over up to --eval-batches global batches of the val split, or nil when the
    /// split is shorter than one global batch.
    func evaluate() throws -> Double? {
        let batches = min(config.evalBatches, evalReader.batchCount)
        guard batches > 0 else {
            emit(.warning("the val split is shorter than one global batch (\(comm.size * config.batch) rows of \(model.config.context + 1) tokens); skipping evaluation."))
            return nil
        }
        var sum = 0.0
        for index in 0..<batches {
            evalReader.batch(index, tokens: tokens.baseAddress!, targets: targets.baseAddress!)
            masking?.apply(tokens: tokens.baseAddress!, targets: targets.baseAddress!, rows: config.batch, time: model.config.context,
                           stream: TokenMasking.evalStream, firstRow: (index * comm.size + comm.rank) * config.batch)
            sum += Double(model.forward(tokens: UnsafeBufferPointer(tokens), targets: UnsafeBufferPointer(targets),
                                        batch: config.batch, time: model.config.context))
        }
        return try watched("val-loss sum (MPI_Allreduce)", step: step) { try comm.sum(sum) } / Double(comm.size * batches)
    }

    /// Runs the collective `body` with the watchdog armed: "step N's `what` made no progress …".
    func watched<T>(_ what: String, step: Int, _ body: () throws -> T) throws -> T {
        guard let watchdog else { return try body() }
        return try watchdog.guarding(what, step: step, body)
    }

    func banner() throws -> Banner {
        let hosts = try comm.allGather(string: comm.hostname)
        var order: [String] = [], counts: [String: Int] = [:]
        for host in hosts {
            if counts[host] == nil { order.append(host) }
            counts[host, default: 0] += 1
        }
        let c = model.config
        return Banner(
            worldSize: comm.size, mpi: comm.libraryVersion, hosts: order.map { "\($0): \(counts[$0]!) rank\(counts[$0]! == 1 ? "" : "s")" },
            threadsPerRank: BLAS.threads, blasKernel: BLAS.coreName, parameters: model.layout.count,
            tokensPerStep: tokensPerStep, data: dataset.summary, tokenizer: "\(dataset.tokenizer.kind.rawValue) (\(dataset.tokenizer.vocabSize) tokens)",
            model: "\(c.layers) layers, \(c.heads) heads, dim \(c.dim), ffn \(c.ffnDim), context \(c.context), vocab \(c.vocabSize), \(c.activation.rawValue), \(c.tiedEmbeddings ? "tied" : "untied") embeddings, \(c.architecture == .encoder ? "encoder (bidirectional), loss over the masked positions" : "\(c.attentionBias ? "attention biases, " : "")loss over \(c.loss == .all ? "all positions" : "the last position")")"
                + (initializedFrom.map { ", weights from \($0) (--init-from)" } ?? ""),
            peakGFLOPS: peakFLOPS / 1e9)
    }
}

/// Monotonic seconds.
func now() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

/// A non-finite loss or gradient; every rank sees it after the same all-reduce.
public struct NonFiniteError: AgreedError {
    public let step: Int
    public let loss: Double
    public let tensor: String?
    public var description: String {
        "the loss or gradients became non-finite at step \(step) (loss \(loss)"
            + (tensor.map { ", first non-finite gradient in \($0)" } ?? "")
            + "); stopping without a checkpoint of this state. Lower --lr or enable --clip, then --resume from the last checkpoint."
    }
}
