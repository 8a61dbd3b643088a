import DPComm
import DPModel

extension Trainer {
    /// The bucketed exchange this run needs, or nil for the flat all-reduce after backward (one
    /// rank, or f32 gradients in one bucket: `--bucket-mb 0`, or a model smaller than a bucket).
    /// Collective (duplicates the communicator).
    static func makeExchange(
        comm: any Communicator, parallel communication: ParallelConfig, gradients: UnsafeMutableBufferPointer<Float>,
        shardCounts: [Int]?, shard: UnsafeMutableBufferPointer<Float>
    ) throws -> BucketedExchange? {
        guard comm.size > 1, communication.bucketElements > 0 || communication.gradientCompression != .none else { return nil }
        // A single f32 bucket holds offset 0, final only when backward ends: nothing to overlap,
        // and MPI's own all-reduce is as fast over the network and faster over shared memory.
        if communication.gradientCompression == .none
            && BucketedExchange.buckets(count: gradients.count, bucketElements: communication.bucketElements).count < 2 {
            return nil
        }
        let exchange = try BucketedExchange(
            channel: try comm.makeExchangeChannel(), gradients: gradients, bucketElements: communication.bucketElements,
            compression: communication.gradientCompression, shardCounts: shardCounts, shard: shardCounts == nil ? nil : shard)
        if TestFault.failInBucket.isArmed() && comm.rank == comm.size - 1 {
            // The third step's first bucket, between its first and second hop (see TestFault).
            let steps = StepCounter(), rank = comm.rank
            exchange.beforeHop = { bucket, hop in
                if bucket == 0 && hop == 0 { steps.count += 1 }
                if steps.count == 3 && bucket == 0 && hop == 1 {
                    throw TestFaultError("DPTRAIN_FAULT=fail-in-bucket: the exchange of bucket 0 fails on rank \(rank) at step 3")
                }
            }
        }
        return exchange
    }

    /// Backward of the micro-step that communicates: every bucket goes to the exchange thread as
    /// soon as backward reports it final.
    func backwardStartingExchange(_ exchange: BucketedExchange) {
        exchange.begin()
        model.backward(gradientsReady: { exchange.ready(from: $0) })
    }
}

/// Steps seen by the fail-in-bucket fault; touched by the exchange thread only.
private final class StepCounter: @unchecked Sendable {
    var count = 0
}

/// The error a test fault throws where the real failure would be an MPI error.
struct TestFaultError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
