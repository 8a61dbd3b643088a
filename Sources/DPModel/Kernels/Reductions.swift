/// Sums and maxima over contiguous Floats, eight lanes at a time.
///
/// Float addition is not associative, so the compiler keeps a plain `s += x[i]` loop scalar and
/// bound by the add's latency; these helpers reassociate explicitly (eight partial sums, combined
/// at the end). They are the reductions of LayerNorm and the softmaxes.

/// Eight floats from p + i, any alignment (also the loads of AdamW and the gradient norm).
@inline(__always)
func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

/// Σ x[i], i < n.
@inline(__always)
func sum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>.zero
    var i = 0
    while i + 8 <= n {
        acc += load8(x, i)
        i += 8
    }
    var s = acc.sum()
    while i < n {
        s += x[i]
        i += 1
    }
    return s
}

/// Σ x[i]·y[i], i < n.
@inline(__always)
func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>.zero
    var i = 0
    while i + 8 <= n {
        acc += load8(x, i) * load8(y, i)
        i += 8
    }
    var s = acc.sum()
    while i < n {
        s += x[i] * y[i]
        i += 1
    }
    return s
}

/// Σ (x[i] − c)², i < n.
@inline(__always)
func sumOfSquares(_ x: UnsafePointer<Float>, minus c: Float, _ n: Int) -> Float {
    var acc = SIMD8<Float>.zero
    let cv = SIMD8<Float>(repeating: c)
    var i = 0
    while i + 8 <= n {
        let d = load8(x, i) - cv
        acc += d * d
        i += 8
    }
    var s = acc.sum()
    while i < n {
        let d = x[i] - c
        s += d * d
        i += 1
    }
    return s
}

/// max x[i], i < n (n ≥ 1).
@inline(__always)
func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: -.greatestFiniteMagnitude)
    var i = 0
    while i + 8 <= n {
        let v = load8(x, i)
        acc.replace(with: v, where: v .> acc)
        i += 8
    }
    var m = acc.max()
    while i < n {
        m = max(m, x[i])
        i += 1
    }
    return m
}
