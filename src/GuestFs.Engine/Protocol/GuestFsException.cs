using System;

namespace GuestFs.Engine.Protocol;

/// <summary>
/// The daemon (or the engine on its behalf) refused a call. The session stays
/// usable. <see cref="ErrnoName"/> is the daemon's symbolic errno such as
/// <c>ENOENT</c>, or empty when the daemon gave none.
/// </summary>
public class GuestFsException : Exception
{
    public GuestFsException(string procedure, string errnoName, string daemonMessage, Exception? inner = null)
        : base(string.IsNullOrEmpty(procedure) ? daemonMessage : $"{procedure}: {daemonMessage}", inner)
    {
        Procedure = procedure;
        ErrnoName = errnoName ?? string.Empty;
        DaemonMessage = daemonMessage;
    }

    /// <summary>
    /// The same daemon error said in other words (for a cmdlet user); the call, errno and the
    /// daemon's text are kept, and the original is the inner exception.
    /// </summary>
    public GuestFsException(GuestFsException daemonError, string message)
        : base(message, daemonError)
    {
        Procedure = daemonError.Procedure;
        ErrnoName = daemonError.ErrnoName;
        DaemonMessage = daemonError.DaemonMessage;
    }

    /// <summary>The call that failed (for example <c>mount</c>).</summary>
    public string Procedure { get; }

    /// <summary>Symbolic errno (<c>ENOENT</c>, <c>EACCES</c> …) or empty.</summary>
    public string ErrnoName { get; }

    /// <summary>Numeric Linux errno for <see cref="ErrnoName"/>, 0 when none.</summary>
    public int Errno => Protocol.Errno.ToNumber(ErrnoName);

    /// <summary>The daemon's own text, without the procedure prefix.</summary>
    public string DaemonMessage { get; }
}

/// <summary>
/// The conversation with the daemon is broken (bad frame, lost sync, EOF,
/// appliance died). The session has been shut down and is back in CONFIG.
/// </summary>
public sealed class GuestFsProtocolException : GuestFsException
{
    public GuestFsProtocolException(string procedure, string message, Exception? inner = null)
        : base(procedure, "EPIPE", message, inner)
    {
    }
}

/// <summary>A call was made in a state that does not allow it (not launched, closed, already launched …).</summary>
public sealed class GuestFsStateException : InvalidOperationException
{
    public GuestFsStateException(string message) : base(message) { }
}
