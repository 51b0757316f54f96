using System;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading;
using System.Threading.Tasks;

namespace GuestFs.Engine.Launch;

/// <summary>qemu refused a QMP command; <see cref="Class"/> is qemu's error class.</summary>
internal sealed class QmpException : Exception
{
    public QmpException(string command, string cls, string description)
        : base($"qemu refused '{command}': {description} ({cls})") { Class = cls; }

    public string Class { get; }
}

/// <summary>
/// A minimal QMP (qemu machine protocol) client over a unix socket: one JSON
/// object per line each way; asynchronous events are skipped. Only used by
/// the engine itself with arguments it builds (never raw user text).
/// </summary>
internal sealed class QmpClient : IDisposable
{
    private readonly Socket _socket;
    private readonly StreamReader _reader;
    private readonly NetworkStream _stream;

    private QmpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new StreamReader(_stream, new UTF8Encoding(false), false, 4096, leaveOpen: true);
    }

    /// <summary>
    /// Connects to qemu's QMP socket (retrying while qemu creates it), reads the
    /// greeting and leaves capabilities negotiation mode.
    /// </summary>
    public static async Task<QmpClient> ConnectAsync(string path, Task qemuExited, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (qemuExited.IsCompleted) throw new IOException("qemu exited before its QMP socket was ready");
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await s.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
                var c = new QmpClient(s);
                try
                {
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    cts.CancelAfter(timeout);
                    var greeting = await c.ReadObjectAsync(cts.Token).ConfigureAwait(false);
                    if (greeting["QMP"] is null) throw new IOException("the QMP socket did not greet with a QMP banner");
                    await c.ExecuteAsync("qmp_capabilities", null, cts.Token).ConfigureAwait(false);
                    return c;
                }
                catch
                {
                    c.Dispose();
                    throw;
                }
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                s.Dispose();
                await Task.Delay(10, ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<JsonObject> ReadObjectAsync(CancellationToken ct)
    {
        while (true)
        {
            string? line = await _reader.ReadLineAsync(ct).ConfigureAwait(false);
            if (line is null) throw new IOException("qemu closed its QMP socket");
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (JsonNode.Parse(line) is JsonObject o) return o;
        }
    }

    /// <summary>Runs one command and returns its "return" value (events in between are skipped).</summary>
    public async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, CancellationToken ct)
    {
        var request = new JsonObject { ["execute"] = command };
        if (arguments is not null) request["arguments"] = arguments;
        byte[] bytes = Encoding.UTF8.GetBytes(request.ToJsonString() + "\n");
        await _stream.WriteAsync(bytes, ct).ConfigureAwait(false);
        while (true)
        {
            var reply = await ReadObjectAsync(ct).ConfigureAwait(false);
            if (reply.ContainsKey("event")) continue;
            if (reply["error"] is JsonObject err)
                throw new QmpException(command, err["class"]?.GetValue<string>() ?? "Error", err["desc"]?.GetValue<string>() ?? "unknown error");
            if (reply.ContainsKey("return")) return reply["return"];
        }
    }

    /// <summary>Polls query-migrate until the migration completed; throws if it failed.</summary>
    public async Task WaitForMigrationAsync(TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var r = await ExecuteAsync("query-migrate", null, ct).ConfigureAwait(false) as JsonObject;
            string status = r?["status"]?.GetValue<string>() ?? "none";
            switch (status)
            {
                case "completed": return;
                case "failed":
                case "cancelled":
                    throw new IOException($"migration {status}" + (r?["error-desc"] is JsonNode d ? ": " + d.GetValue<string>() : ""));
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"migration still '{status}' after {timeout.TotalSeconds:0} s");
            await Task.Delay(10, ct).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        try { _reader.Dispose(); } catch { }
        try { _stream.Dispose(); } catch { }
        try { _socket.Dispose(); } catch { }
    }
}
