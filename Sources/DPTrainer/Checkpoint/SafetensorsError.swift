/// Why a byte buffer is not a valid safetensors file (or not one this trainer can read).
///
/// `description` is one sentence a user can act on, e.g. "safetensors header length 4096 exceeds
/// the 120 bytes that follow it (file truncated or not a safetensors file)". The caller that knows
/// the file's path prefixes it (see `CheckpointError`).
public struct SafetensorsError: Error, CustomStringConvertible, Equatable {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
