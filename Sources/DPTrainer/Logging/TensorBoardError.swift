/// Why a TensorBoard event file cannot be written or read.
///
/// `description` is one sentence naming the file and, for a damaged file, the byte offset of the
/// record at fault, e.g. "TensorBoard event file runs/x/tensorboard/events.out.tfevents.1.host:
/// the record at byte 1234 fails its data checksum (the file is damaged)".
public struct TensorBoardError: Error, CustomStringConvertible, Equatable {
    public let description: String
    /// The byte offset of the damaged record, when reading.
    public let offset: Int?

    public init(_ description: String, offset: Int? = nil) {
        self.description = description
        self.offset = offset
    }
}
