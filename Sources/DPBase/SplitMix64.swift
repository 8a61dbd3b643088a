/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast generator whose output depends only on its
/// seed, on every platform and in every process — unlike `SystemRandomNumberGenerator` or
/// `hashValue`, which must never decide which tokens a rank sees. The one generator of dptrain:
/// parameter initialization, the samplers' shuffles, the built-in corpus, token sampling and the
/// benchmark's synthetic data all draw from it, so its streams are part of the determinism and
/// resume contracts (DESIGN.md) and must not change.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    @usableFromInline var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// SplitMix64's output function: a bijection of UInt64 that scrambles every bit.
    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in 0..<n (n > 0), by Lemire's multiply-shift with rejection, so the
    /// result is unbiased and the same on every platform.
    @inlinable
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0, "below(\(n)) needs n > 0")
        let bound = UInt64(n)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return Int(product.high)
    }

    /// Uniform in [0, 1) with 53 random bits (exact: an integer times a power of two).
    @inlinable
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal sample by Marsaglia's polar method, from IEEE-exact operations only
    /// (+, −, ×, ÷, √ and `portableLog`), so the same seed gives the same bits on every machine,
    /// whatever libm or CPU dispatch it has.
    public mutating func nextNormal() -> Double {
        while true {
            let u = 2 * nextUnit() - 1
            let v = 2 * nextUnit() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * portableLog(s) / s).squareRoot()
            }
        }
    }
}
