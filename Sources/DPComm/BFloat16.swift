/// bfloat16: the top 16 bits of an IEEE binary32 (sign, 8 exponent bits, 7 mantissa bits), the
/// wire format of `--grad-compression bf16`. Values are kept as their bit patterns (UInt16).
public enum BFloat16 {
    /// `x` rounded to the nearest bfloat16, ties to even. ±Inf stay ±Inf, finite values beyond
    /// the largest bfloat16 (≈ 3.39e38) round to ±Inf, subnormals round like any other value
    /// (the bit pattern is monotonic), and a NaN stays a NaN of the same sign (quiet bit set, so
    /// that a NaN whose payload lies only in the low 16 bits does not become ±Inf).
    @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        let rounded = (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16
        let quietNaN = (b >> 16) | 0x0040
        return UInt16(truncatingIfNeeded: (b & 0x7FFF_FFFF) > 0x7F80_0000 ? quietNaN : rounded)
    }

    /// The binary32 of equal value (exact).
    @inline(__always)
    public static func float(_ bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// `output[i] = bits(input[i])`; the counts must be equal.
    public static func compress(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<UInt16>) {
        precondition(input.count == output.count, "compress: \(input.count) floats into \(output.count) bfloat16s")
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        for i in 0..<input.count { y[i] = bits(x[i]) }
    }

    /// `output[i] = float(input[i])`; the counts must be equal.
    public static func decompress(_ input: UnsafeBufferPointer<UInt16>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(input.count == output.count, "decompress: \(input.count) bfloat16s into \(output.count) floats")
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        for i in 0..<input.count { y[i] = float(x[i]) }
    }

    /// `sum[i] = float(input[i]) + sum[i]`, in binary32: one hop of the compressed ring.
    public static func accumulate(_ input: UnsafeBufferPointer<UInt16>, into sum: UnsafeMutableBufferPointer<Float>) {
        precondition(input.count == sum.count, "accumulate: \(input.count) bfloat16s into \(sum.count) floats")
        guard let x = input.baseAddress, let y = sum.baseAddress else { return }
        for i in 0..<input.count { y[i] = float(x[i]) + y[i] }
    }
}
