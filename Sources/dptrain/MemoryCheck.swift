import ArgumentParser
import DPModel
import Foundation

/// Refuses a model that cannot fit in this host's memory, before anything is allocated (an
/// allocation that fails traps the process, which is no way to tell a user).
enum MemoryCheck {
    /// Bytes one rank needs, roughly: weights, gradients and two optimizer moments (4 floats per
    /// parameter), plus the activations kept for backward — per layer about (16·C + 2·F)·B·T for the
    /// projections, norms and FFN and 2·NH·B·T² for attention, and 4·B·T·V for the logits.
    static func bytesPerRank(model c: ModelConfig, batch: Int) -> Double {
        let rows = Double(batch * c.context)
        let perLayer = rows * Double(16 * c.dim + 2 * c.ffnDim) + 2 * Double(c.heads) * rows * Double(c.context)
        let activations = Double(c.layers) * perLayer + 4 * rows * Double(c.vocabSize)
        return 4 * (4 * Double(c.parameterCount) + activations)
    }

    static func require(model: ModelConfig, batch: Int, ranksOnHost: Int) throws {
        let need = bytesPerRank(model: model, batch: batch) * Double(ranksOnHost)
        let have = Double(ProcessInfo.processInfo.physicalMemory)
        guard need <= have * 0.9 else {
            let gb = { (bytes: Double) in String(format: "%.1f GB", bytes / 1e9) }
            throw ValidationError(
                "the model needs about \(gb(need / Double(ranksOnHost))) per rank (\(model.parameterCount) parameters and activations for batch \(batch)), \(gb(need)) for the \(ranksOnHost) rank\(ranksOnHost == 1 ? "" : "s") on this host, but the host has \(gb(have)); make it smaller or use fewer ranks per host.")
        }
    }
}
