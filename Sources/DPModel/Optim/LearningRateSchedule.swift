import DPBase

/// The learning rate per optimizer step, nanoGPT's three cases:
///  1. linear warmup: rate(s) = maxLR·s/warmupSteps for 1 ≤ s ≤ warmupSteps (peak at s = warmupSteps);
///  2. after totalSteps: minLR;
///  3. in between, cosine decay from maxLR down to minLR:
///     minLR + ½(1 + cos(π·(s − warmupSteps)/(totalSteps − warmupSteps)))·(maxLR − minLR).
/// `constant` keeps maxLR after the warmup. Steps are 1-based, the number of the update.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case cosine
        case constant
    }

    public var kind: Kind
    public var maxLR: Float
    public var minLR: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: Kind = .cosine, maxLR: Float, minLR: Float = 0, warmupSteps: Int = 0, totalSteps: Int) {
        self.kind = kind
        self.maxLR = maxLR
        self.minLR = minLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// A constant rate, e.g. the seed's SGD.
    public static func constant(_ lr: Float) -> LearningRateSchedule {
        LearningRateSchedule(kind: .constant, maxLR: lr, minLR: lr, warmupSteps: 0, totalSteps: 0)
    }

    public func rate(atStep step: Int) -> Float {
        if step <= warmupSteps && warmupSteps > 0 {
            return maxLR * Float(max(step, 0)) / Float(warmupSteps)
        }
        switch kind {
        case .constant:
            return maxLR
        case .cosine:
            if step >= totalSteps { return minLR }
            let progress = Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
            let coefficient = 0.5 * (1 + portableCos(Double.pi * progress))   // same bits on every rank
            return Float(Double(minLR) + coefficient * Double(maxLR - minLR))
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case maxLR = "max_lr"
        case minLR = "min_lr"
        case warmupSteps = "warmup_steps"
        case totalSteps = "total_steps"
    }
}
