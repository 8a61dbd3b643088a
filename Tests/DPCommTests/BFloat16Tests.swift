import DPComm
import Testing

/// `BFloat16.bits` against a reference rounding written differently: pick the nearer of the two
/// bfloat16 neighbours by Double distances, ties to the even one. Exact: bit patterns must match.
struct BFloat16Tests {
    /// The reference for finite inputs: the neighbours below and above in magnitude, the nearer
    /// one, ties to even; beyond the largest finite bfloat16 the "above" neighbour is Inf, which
    /// IEEE's round-to-nearest chooses when the value is at least halfway to 2^128.
    static func reference(_ x: Float) -> UInt16 {
        let truncated = x.bitPattern & 0xFFFF_0000
        let down = Float(bitPattern: truncated)
        let upBits = truncated &+ 0x1_0000
        let up = Float(bitPattern: upBits)
        let dDown = abs(Double(x) - Double(down))
        // Above the largest finite bfloat16 the next one is Inf: measure to 2^128 instead.
        let dUp = up.isInfinite ? abs(0x1p128 - abs(Double(x))) : abs(Double(up) - Double(x))
        if dDown < dUp { return UInt16(truncated >> 16) }
        if dUp < dDown { return UInt16(upBits >> 16) }
        return (truncated >> 16) & 1 == 0 ? UInt16(truncated >> 16) : UInt16(upBits >> 16)
    }

    @Test func ordinaryValuesTiesAndBoundariesRoundToNearestEven() {
        let cases: [Float] = [
            0, -0, 1, -1, 0.1, -0.1, 3.14159265, 65504, 1e-3, 1e30, -1e-30,
            Float(bitPattern: 0x3F80_8000),  // 1 + 2^-8: a tie, the even neighbour is 1.0
            Float(bitPattern: 0x3F81_8000),  // a tie whose even neighbour is above
            Float(bitPattern: 0x3F80_8001),  // just above a tie: rounds up
            Float(bitPattern: 0x3F80_7FFF),  // just below a tie: rounds down
            Float(bitPattern: 0xBF81_8000),  // negative tie
            Float.greatestFiniteMagnitude,   // rounds to Inf (above the largest bfloat16's halfway)
            Float(bitPattern: 0x7F7F_7FFF),  // just below halfway to 2^128: stays finite
            Float(bitPattern: 0x7F7F_8000),  // exactly halfway: ties to even, which is Inf
        ]
        for x in cases {
            #expect(BFloat16.bits(x) == Self.reference(x), "\(x) (0x\(String(x.bitPattern, radix: 16)))")
        }
        #expect(BFloat16.float(BFloat16.bits(Float(bitPattern: 0x3F80_8000))) == 1)
        #expect(BFloat16.float(BFloat16.bits(Float(bitPattern: 0x3F81_8000))) == Float(bitPattern: 0x3F82_0000))
        #expect(BFloat16.bits(.greatestFiniteMagnitude) == 0x7F80, "overflow gives +Inf")
        #expect(BFloat16.bits(Float(bitPattern: 0x7F7F_7FFF)) == 0x7F7F)
    }

    @Test func subnormalsRoundLikeEveryOtherValue() {
        let cases: [UInt32] = [0x0000_0001, 0x0000_8000, 0x0001_8000, 0x0000_7FFF, 0x007F_FFFF, 0x007F_8000, 0x8000_8001]
        for bits in cases {
            let x = Float(bitPattern: bits)
            #expect(x.isSubnormal)
            #expect(BFloat16.bits(x) == Self.reference(x), "0x\(String(bits, radix: 16))")
        }
        #expect(BFloat16.bits(Float(bitPattern: 0x007F_FFFF)) == 0x0080, "the largest subnormal rounds to the smallest normal")
        #expect(BFloat16.bits(Float(bitPattern: 0x0000_8000)) == 0x0000, "the tie at the bottom goes to even zero")
    }

    @Test func infinitiesStayAndNaNsStayNaNsOfTheirSign() {
        #expect(BFloat16.bits(.infinity) == 0x7F80)
        #expect(BFloat16.bits(-.infinity) == 0xFF80)
        for bits: UInt32 in [0x7FC0_0000, 0x7F80_0001, 0x7F80_FFFF, 0xFFC0_0000, 0xFF80_0001, 0x7FFF_FFFF] {
            let nan = Float(bitPattern: bits)
            let back = BFloat16.float(BFloat16.bits(nan))
            #expect(back.isNaN, "0x\(String(bits, radix: 16)) must stay NaN, not become Inf")
            #expect(back.sign == nan.sign)
        }
    }

    @Test func aMillionSeededBitPatternsMatchTheReference() {
        var state: UInt64 = 0x1234_5678
        var mismatches = 0
        for _ in 0..<1_000_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32))
            guard x.isFinite else { continue }
            if BFloat16.bits(x) != Self.reference(x) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test func theBufferFunctionsAgreeWithTheScalarOnes() {
        let input: [Float] = (0..<1003).map { Float($0) * 0.37 - 180 }
        var wire = [UInt16](repeating: 0, count: input.count)
        var back = [Float](repeating: 0, count: input.count)
        var sum = [Float](repeating: 0.5, count: input.count)
        input.withUnsafeBufferPointer { x in wire.withUnsafeMutableBufferPointer { BFloat16.compress(x, into: $0) } }
        wire.withUnsafeBufferPointer { w in back.withUnsafeMutableBufferPointer { BFloat16.decompress(w, into: $0) } }
        wire.withUnsafeBufferPointer { w in sum.withUnsafeMutableBufferPointer { BFloat16.accumulate(w, into: $0) } }
        for i in input.indices {
            #expect(wire[i] == BFloat16.bits(input[i]))
            #expect(back[i] == BFloat16.float(wire[i]))
            #expect(sum[i] == BFloat16.float(wire[i]) + 0.5)
            // Relative error of one rounding: at most half the spacing of 8 significant bits, 2^-8.
            #expect(abs(back[i] - input[i]) <= abs(input[i]) * 0x1p-8)
        }
    }

    @Test func bucketsAreGradedFromBothEndsAndEndAtTheFrontiers() {
        // Smaller than the edge size: buckets of bucketElements from offset 0 up.
        #expect(BucketedExchange.buckets(count: 10, bucketElements: 4) == [8..<10, 4..<8, 0..<4])
        #expect(BucketedExchange.buckets(count: 8, bucketElements: 4) == [4..<8, 0..<4])
        #expect(BucketedExchange.buckets(count: 10, bucketElements: 0) == [0..<10])
        #expect(BucketedExchange.buckets(count: 10, bucketElements: 50) == [0..<10])
        #expect(BucketedExchange.buckets(count: 0, bucketElements: 4).isEmpty)
        // Graded: 1 MiB (E floats) at offset 0, doubling up to bucketElements = 4E, and halving
        // again towards the end of the buffer, which backward finishes first.
        let E = BucketedExchange.edgeBucketElements
        #expect(BucketedExchange.buckets(count: 12 * E, bucketElements: 4 * E)
                    == [11 * E..<12 * E, 10 * E..<11 * E, 8 * E..<10 * E, 4 * E..<8 * E, 2 * E..<4 * E, E..<2 * E, 0..<E])
        // With frontiers each bucket ends at the largest frontier its size allows (E/2, 3E, 7E),
        // elsewhere at its size.
        let h = E / 2
        #expect(BucketedExchange.buckets(count: 12 * E, bucketElements: 4 * E, frontiers: [7 * E, 3 * E, h, 0])
                    == [47 * E / 4..<12 * E, 43 * E / 4..<47 * E / 4, 19 * h..<43 * E / 4, 7 * E..<19 * h, 6 * E..<7 * E,
                        3 * E..<6 * E, 3 * h..<3 * E, h..<3 * h, 0..<h])
        #expect(BucketedExchange.chunks(of: 2..<12, ranks: 3, shardStarts: [], shardCounts: nil) == [2..<5, 5..<8, 8..<12])
        #expect(BucketedExchange.chunks(of: 2..<12, ranks: 3, shardStarts: [0, 0, 9], shardCounts: [0, 9, 6])
                    == [2..<2, 2..<9, 9..<12])
    }
}
