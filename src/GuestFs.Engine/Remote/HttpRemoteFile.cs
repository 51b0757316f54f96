using System;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Launch;

namespace GuestFs.Engine.Remote;

/// <summary>A file on an http or https server, read with Range requests over a small pool of kept-alive connections.</summary>
internal sealed class HttpRemoteFile : ChunkedRemoteFile
{
    private readonly HttpClient _client;
    private readonly Uri _url;

    private HttpRemoteFile(CurlDriveSource source, HttpClient client)
        : base(source.Display, chunkSize: 256 * 1024, cachedChunks: 128)
    {
        _client = client;
        _url = new Uri(source.Url);
    }

    public static async Task<HttpRemoteFile> OpenAsync(CurlDriveSource source, CancellationToken ct)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            MaxConnectionsPerServer = 4,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(20),
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // http_proxy, https_proxy and no_proxy are honoured as curl (and so qemu's curl
            // driver) honours them; a server on this machine is reached directly.
            UseProxy = !IsLoopback(new Uri(source.Url)),
        };
        if (source.SkipCertificateCheck)
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        var client = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        if (source.User is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes(source.User + ":" + (source.Secret ?? ""))));
        var file = new HttpRemoteFile(source, client);
        try
        {
            // One ranged GET of the first byte tells the size (Content-Range) and that ranges work.
            using var req = new HttpRequestMessage(HttpMethod.Get, file._url);
            req.Headers.Range = new RangeHeaderValue(0, 0);
            using var resp = await client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            Check(resp);
            if (resp.StatusCode != HttpStatusCode.PartialContent || resp.Content.Headers.ContentRange?.Length is not long total)
                throw new DriveSourceException(source, $"could not open {source.Display}: the server does not serve byte ranges (it answered a Range request with {(int)resp.StatusCode} {resp.ReasonPhrase}); a disk image needs a server that does (lighttpd, nginx, busybox httpd …)");
            file.Length = total;
            return file;
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static void Check(HttpResponseMessage resp)
    {
        if (resp.IsSuccessStatusCode) return;
        string what = resp.StatusCode switch
        {
            HttpStatusCode.NotFound => ": the file does not exist on the server",
            HttpStatusCode.Unauthorized => ": the server wants a user and password (401)",
            HttpStatusCode.Forbidden => ": the server refuses to serve the file",
            _ => "",
        };
        throw new HttpRequestException($"HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}{what}", null, resp.StatusCode);
    }

    protected override async Task FetchAsync(long offset, Memory<byte> into, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, _url);
        req.Headers.Range = new RangeHeaderValue(offset, offset + into.Length - 1);
        using var resp = await _client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        Check(resp);
        if (resp.StatusCode != HttpStatusCode.PartialContent || resp.Content.Headers.ContentRange?.From != offset)
            throw new HttpRequestException($"the server answered a range request at {offset} with {(int)resp.StatusCode} and no matching Content-Range");
        await using var body = await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await body.ReadExactlyAsync(into, ct).ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync().ConfigureAwait(false);
        _client.Dispose();
    }
}
