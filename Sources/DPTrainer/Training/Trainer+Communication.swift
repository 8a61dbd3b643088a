import DPComm
import DPModel
import Foundation

extension Trainer {
    /// The bucketed exchange this run needs, or nil for the flat all-reduce after backward (one
    /// rank, or f32 gradients in one bucket: `--bucket-mb 0`, or a model no larger than a bucket).
    /// Collective (duplicates the communicator).
    static func makeExchange(
        comm: any Communicator, parallel communication: ParallelConfig, gradients: UnsafeMutableBufferPointer<Float>,
        frontiers: [Int], shardCounts: [Int]?, shard: UnsafeMutableBufferPointer<Float>
    ) throws -> BucketedExchange? {
        guard comm.size > 1, communication.bucketElements > 0 || communication.gradientCompression != .none else { return nil }
        // f32 gradients that fit in one bucket (every model of a few MB, as on one host): MPI's own
        // all-reduce after backward, as fast over the network for so few bytes and faster over
        // shared memory. Larger ones are cut into graded buckets (`BucketedExchange.buckets`).
        if communication.gradientCompression == .none && gradients.count <= communication.bucketElements {
            return nil
        }
        // Several hosts with several ranks each: reduce within each host first, so that the link
        // carries 2(H − 1)/H of the gradients instead of the flat ring's 2(W − 1)/W (ZeRO-1: its
        // reduce-scatter and the weights' all-gather (H − 1)/H each instead of (W − 1)/W).
        // DPTRAIN_HOST_LEVELS=0 (on every rank, or on any: the ranks agree) keeps one flat ring,
        // for measuring.
        let twoLevels = ProcessInfo.processInfo.environment["DPTRAIN_HOST_LEVELS"] != "0"
        let hosts = try comm.makeHostChannels(enabled: twoLevels)
        let exchange = try BucketedExchange(
            channel: try comm.makeExchangeChannel(), gradients: gradients, bucketElements: communication.bucketElements,
            frontiers: frontiers, compression: communication.gradientCompression, shardCounts: shardCounts, shard: shardCounts == nil ? nil : shard,
            hosts: hosts)
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
