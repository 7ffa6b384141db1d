/// What one TCP listener allows ([node] tcp_* keys): connections in all and from one
/// address, how long a connection may idle and how long a message may take to arrive.
struct StreamLimits: Equatable {
    var connections: Int
    var perSource: Int
    var idleNanoseconds: Int64
    var messageNanoseconds: Int64
    /// Bytes buffered per connection: the largest message gatewayd takes (what its message
    /// pool holds, and more than a UDP datagram), so a larger one is refused, not cut.
    static let bufferBytes = 65_536
}
