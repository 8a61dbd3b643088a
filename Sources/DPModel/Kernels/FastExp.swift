/// eˣ in Float to about 1 ulp (Cephes expf: Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2,
/// then a degree-7 polynomial), inputs clamped to [−87.3, 88.3] so the result is always a
/// finite normal number. Unlike a libm call it inlines, so loops over it vectorize; the
/// softmaxes and GELU spend most of their time here.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let x = min(max(x, -87.3), 88.3)
    // n = round(x / ln 2) by the 1.5·2²³ trick (pure arithmetic, so it vectorizes).
    let shifter: Float = 12_582_912
    let n = (x * 1.442_695_04 + shifter) - shifter
    let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
    let r2 = r * r
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    p = p * r2 + r + 1
    let scale = Float(bitPattern: UInt32(truncatingIfNeeded: Int32(n) + 127) << 23)
    return p * scale
}
