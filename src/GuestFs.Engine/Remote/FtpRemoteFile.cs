using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Launch;

namespace GuestFs.Engine.Remote;

/// <summary>
/// A file on an ftp or ftps (implicit TLS, port 990) server: SIZE once, then for each chunk a
/// passive data connection, REST and RETR, closed as soon as the chunk has arrived. Control
/// connections are kept and reused (one per concurrent read). With ftps the data connections
/// are TLS too (PBSZ 0, PROT P).
/// </summary>
internal sealed class FtpRemoteFile : ChunkedRemoteFile
{
    private readonly CurlDriveSource _source;
    private readonly string _host;
    private readonly int _port;
    private readonly string _path;
    private readonly bool _tls;
    private readonly ConcurrentBag<FtpControl> _idle = new();
    private readonly SemaphoreSlim _slots = new(4, 4);

    private FtpRemoteFile(CurlDriveSource source)
        : base(source.Display, chunkSize: 1024 * 1024, cachedChunks: 48)
    {
        _source = source;
        var u = new Uri(source.Url);
        _host = u.Host;
        _tls = source.Protocol == "ftps";
        _port = u.IsDefaultPort || u.Port < 0 ? (_tls ? 990 : 21) : u.Port;
        _path = Uri.UnescapeDataString(u.AbsolutePath);
    }

    public static async Task<FtpRemoteFile> OpenAsync(CurlDriveSource source, CancellationToken ct)
    {
        var file = new FtpRemoteFile(source);
        try
        {
            var c = await file.ConnectAsync(ct).ConfigureAwait(false);
            // Kept by the file from here on: whatever fails below closes it with the file.
            file._idle.Add(c);
            var (code, text) = await c.CommandAsync("SIZE " + file._path, ct).ConfigureAwait(false);
            if (code != 213 || !long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long size))
                throw new IOException(code == 550
                    ? $"FTP {code} {text}: the file does not exist on the server (or may not be read)"
                    : $"the server did not tell the file's size (SIZE answered {code} {text}); GuestFs needs SIZE and REST");
            file.Length = size;
            return file;
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<FtpControl> ConnectAsync(CancellationToken ct)
    {
        var c = await FtpControl.ConnectAsync(_host, _port, _tls, _source.SkipCertificateCheck, ct).ConfigureAwait(false);
        try
        {
            var (code, text) = await c.ReplyAsync(ct).ConfigureAwait(false);
            if (code != 220) throw new IOException($"the server greeted with {code} {text}");
            (code, text) = await c.CommandAsync("USER " + (_source.User ?? "anonymous"), ct).ConfigureAwait(false);
            if (code == 331)
                (code, text) = await c.CommandAsync("PASS " + (_source.Secret ?? (_source.User is null ? "guestfs@" : "")), ct).ConfigureAwait(false);
            if (code != 230) throw new IOException($"FTP {code} {text}: the server refused the log-in");
            if (_tls)
            {
                await c.ExpectAsync("PBSZ 0", 200, ct).ConfigureAwait(false);
                await c.ExpectAsync("PROT P", 200, ct).ConfigureAwait(false);
            }
            await c.ExpectAsync("TYPE I", 200, ct).ConfigureAwait(false);
            return c;
        }
        catch
        {
            await c.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override async Task FetchAsync(long offset, Memory<byte> into, CancellationToken ct)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        FtpControl? c = null;
        bool reusable = false;
        try
        {
            c = _idle.TryTake(out var idle) ? idle : await ConnectAsync(ct).ConfigureAwait(false);
            var endpoint = await c.PassiveAsync(ct).ConfigureAwait(false);
            using var s = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(endpoint, ct).ConfigureAwait(false);
            await c.ExpectAsync("REST " + offset.ToString(CultureInfo.InvariantCulture), 350, ct).ConfigureAwait(false);
            var (code, text) = await c.CommandAsync("RETR " + _path, ct).ConfigureAwait(false);
            if (code is not (125 or 150)) throw new IOException($"RETR answered {code} {text}");
            Stream stream = new NetworkStream(s, ownsSocket: false);
            try
            {
                if (_tls) stream = await FtpControl.SecureAsync(stream, _host, _source.SkipCertificateCheck, ct).ConfigureAwait(false);
                await stream.ReadExactlyAsync(into, ct).ConfigureAwait(false);
            }
            finally { await stream.DisposeAsync().ConfigureAwait(false); }
            s.Close();
            // The server ends the transfer (226) or says it was cut short (426/451); a NOOP
            // answered with 200 then proves the control connection is back in step.
            await c.ReplyAsync(ct).ConfigureAwait(false);
            await c.SyncAsync(ct).ConfigureAwait(false);
            reusable = true;
        }
        finally
        {
            if (c is not null)
            {
                if (reusable) _idle.Add(c);
                else await c.DisposeAsync().ConfigureAwait(false);
            }
            _slots.Release();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        while (_idle.TryTake(out var c)) await c.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>One FTP control connection: commands and (multi-line) replies.</summary>
internal sealed class FtpControl : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly byte[] _buf = new byte[4096];
    private int _start, _end;

    private FtpControl(Socket socket, Stream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    public static async Task<FtpControl> ConnectAsync(string host, int port, bool tls, bool skipCertificateCheck, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(host, port, ct).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (tls) stream = await SecureAsync(stream, host, skipCertificateCheck, ct).ConfigureAwait(false);
            return new FtpControl(socket, stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static async Task<Stream> SecureAsync(Stream inner, string host, bool skipCertificateCheck, CancellationToken ct)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions { TargetHost = host };
        if (skipCertificateCheck) options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        try { await ssl.AuthenticateAsClientAsync(options, ct).ConfigureAwait(false); }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return ssl;
    }

    public async Task<(int Code, string Text)> CommandAsync(string command, CancellationToken ct)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\r\n"), ct).ConfigureAwait(false);
        await _stream.FlushAsync(ct).ConfigureAwait(false);
        return await ReplyAsync(ct).ConfigureAwait(false);
    }

    public async Task ExpectAsync(string command, int code, CancellationToken ct)
    {
        var r = await CommandAsync(command, ct).ConfigureAwait(false);
        if (r.Code != code)
        {
            string shown = command.StartsWith("PASS ", StringComparison.Ordinal) ? "PASS" : command;
            throw new IOException($"the server answered {shown} with {r.Code} {r.Text}");
        }
    }

    /// <summary>Sends NOOP and reads replies up to its 200, skipping any late reply to an earlier command.</summary>
    public async Task SyncAsync(CancellationToken ct)
    {
        var r = await CommandAsync("NOOP", ct).ConfigureAwait(false);
        for (int i = 0; r.Code != 200 && i < 4; i++) r = await ReplyAsync(ct).ConfigureAwait(false);
        if (r.Code != 200) throw new IOException($"the server did not answer NOOP ({r.Code} {r.Text})");
    }

    /// <summary>EPSV, or PASV when the server does not know it; the data port on the control connection's host.</summary>
    public async Task<IPEndPoint> PassiveAsync(CancellationToken ct)
    {
        var peer = (IPEndPoint)_socket.RemoteEndPoint!;
        if (peer.Address.IsIPv4MappedToIPv6) peer = new IPEndPoint(peer.Address.MapToIPv4(), peer.Port);
        var (code, text) = await CommandAsync("EPSV", ct).ConfigureAwait(false);
        if (code == 229)
        {
            int a = text.IndexOf("|||", StringComparison.Ordinal);
            int b = a < 0 ? -1 : text.IndexOf('|', a + 3);
            if (b > a && int.TryParse(text.AsSpan(a + 3, b - a - 3), NumberStyles.None, CultureInfo.InvariantCulture, out int port))
                return new IPEndPoint(peer.Address, port);
        }
        (code, text) = await CommandAsync("PASV", ct).ConfigureAwait(false);
        int open = text.IndexOf('('), close = text.IndexOf(')');
        var parts = open >= 0 && close > open ? text.Substring(open + 1, close - open - 1).Split(',') : Array.Empty<string>();
        if (code != 227 || parts.Length != 6)
            throw new IOException($"the server offers no passive data connection (PASV answered {code} {text})");
        // Like curl, connect to the control connection's address, not the one in the reply
        // (often a private address behind NAT).
        return new IPEndPoint(peer.Address, int.Parse(parts[4].Trim(), CultureInfo.InvariantCulture) * 256 + int.Parse(parts[5].Trim(), CultureInfo.InvariantCulture));
    }

    public async Task<(int Code, string Text)> ReplyAsync(CancellationToken ct)
    {
        string line = await LineAsync(ct).ConfigureAwait(false);
        if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out int code))
            throw new IOException($"not an FTP reply: '{line}'");
        var text = new StringBuilder(line.Length > 4 ? line.Substring(4) : "");
        if (line.Length > 3 && line[3] == '-')
        {
            string end = line.Substring(0, 3) + " ";
            string next;
            do
            {
                next = await LineAsync(ct).ConfigureAwait(false);
                text.Append(' ').Append(next.StartsWith(end, StringComparison.Ordinal) ? next.Substring(4) : next);
            }
            while (!next.StartsWith(end, StringComparison.Ordinal));
        }
        return (code, text.ToString().Trim());
    }

    private async Task<string> LineAsync(CancellationToken ct)
    {
        var line = new StringBuilder();
        while (true)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await _stream.ReadAsync(_buf, ct).ConfigureAwait(false);
                if (_end == 0) throw new EndOfStreamException("the FTP server closed the control connection");
            }
            int nl = Array.IndexOf(_buf, (byte)'\n', _start, _end - _start);
            int stop = nl < 0 ? _end : nl;
            line.Append(Encoding.UTF8.GetString(_buf, _start, stop - _start));
            _start = nl < 0 ? _end : nl + 1;
            if (nl >= 0) return line.ToString().TrimEnd('\r');
            if (line.Length > 65536) throw new IOException("an FTP reply line is too long");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { await _stream.DisposeAsync().ConfigureAwait(false); } catch { }
        _socket.Dispose();
    }
}
