using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Protocol;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

/// <summary>
/// Expands PowerShell wildcards (* ? [abc]) in guest paths against the guest
/// tree: one directory listing per wildcard segment, never a shell glob.
/// </summary>
internal static class GuestPathResolver
{
    public static bool HasWildcards(string path) => WildcardPattern.ContainsWildcardCharacters(path);

    /// <summary>Existing guest paths matching <paramref name="path"/> (sorted); empty when none.</summary>
    public static async Task<string[]> ResolveAsync(GuestSession session, string path, CancellationToken ct)
    {
        string norm = GuestPath.Normalize(path);
        if (!HasWildcards(norm))
            return await session.GetItemAsync(norm, ct).ConfigureAwait(false) is null ? Array.Empty<string>() : new[] { norm };
        var current = new List<string> { "/" };
        var segments = norm.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < segments.Length; i++)
        {
            var seg = segments[i];
            var next = new List<string>();
            if (!WildcardPattern.ContainsWildcardCharacters(seg))
            {
                string literal = WildcardPattern.Unescape(seg);
                // Existence is checked once at the end, not per segment.
                foreach (var c in current) next.Add(GuestPath.Combine(c, literal));
            }
            else
            {
                var pattern = new WildcardPattern(seg, WildcardOptions.None);
                foreach (var c in current)
                {
                    string[] names;
                    try { names = await session.LsAsync(c, ct).ConfigureAwait(false); }
                    catch (GuestFsException e) when (e is not GuestFsProtocolException) { continue; }
                    foreach (var n in names)
                        if (pattern.IsMatch(n) && (!n.StartsWith('.') || seg.StartsWith('.')))
                            next.Add(GuestPath.Combine(c, n));
                }
            }
            current = next;
            if (current.Count == 0) break;
        }
        var result = new List<string>();
        foreach (var c in current)
            if (await session.GetItemAsync(c, ct).ConfigureAwait(false) is not null) result.Add(c);
        result.Sort(StringComparer.Ordinal);
        return result.ToArray();
    }
}

/// <summary>The session a completion works against: -Disk as typed so far, else the only open one.</summary>
internal static class CompletionSession
{
    public static GuestDisk? Find(System.Collections.IDictionary? fakeBoundParameters)
    {
        var disk = (fakeBoundParameters?["Disk"] as PSObject)?.BaseObject as GuestDisk ?? fakeBoundParameters?["Disk"] as GuestDisk;
        if (disk is null)
        {
            var all = GuestDiskRegistry.Mine();
            if (all.Length != 1) return null;
            disk = all[0];
        }
        return disk.State == GuestSessionState.Ready ? disk : null;
    }
}

/// <summary>Tab completion of guest paths from the open session.</summary>
public sealed class GuestPathCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, System.Collections.IDictionary fakeBoundParameters)
    {
        string word = (wordToComplete ?? "").Trim('\'', '"');
        // A GuestFs drive path (or a relative path while the current location is on a
        // GuestFs drive) completes through the provider, like any provider path.
        if (IsGuestFsDrivePath(word)) return CompletionCompleters.CompleteFilename(wordToComplete ?? "");
        var disk = CompletionSession.Find(fakeBoundParameters);
        if (disk is null) return Array.Empty<CompletionResult>();
        if (word.Length == 0) word = "/";
        if (!word.StartsWith('/')) word = "/" + word;
        int slash = word.LastIndexOf('/');
        string dir = slash <= 0 ? "/" : word.Substring(0, slash);
        string prefix = word.Substring(slash + 1);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var entries = disk.Session.GetDirectoryEntriesAsync(dir, cts.Token).GetAwaiter().GetResult();
            return entries
                .Where(e => e.Name.StartsWith(prefix, StringComparison.Ordinal))
                .Select(e =>
                {
                    string full = GuestPath.Combine(dir, e.Name) + (e.IsDirectory ? "/" : "");
                    string text = full.IndexOfAny(new[] { ' ', '\'', '$', '`', '(', ')', '{', '}', '&', ';', ',' }) >= 0 ? "'" + full.Replace("'", "''") + "'" : full;
                    return new CompletionResult(text, e.Name + (e.IsDirectory ? "/" : ""),
                        e.IsDirectory ? CompletionResultType.ProviderContainer : CompletionResultType.ProviderItem, full);
                })
                .ToArray();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
    }

    private static bool IsGuestFsDrivePath(string word)
    {
        try
        {
            // Completers get no session state; ask the runspace they run in for it.
            if (System.Management.Automation.Runspaces.Runspace.DefaultRunspace is null) return false;
            if (ScriptBlock.Create("$ExecutionContext.SessionState").Invoke() is not { Count: 1 } r || r[0]?.BaseObject is not SessionState state) return false;
            if (word.Contains("::", StringComparison.Ordinal))
                return word.StartsWith(Provider.GuestFsProvider.ProviderName + "::", StringComparison.OrdinalIgnoreCase) ||
                       word.Contains("\\" + Provider.GuestFsProvider.ProviderName + "::", StringComparison.OrdinalIgnoreCase);
            if (Provider.GuestFsPath.TrySplitDrive(word, out var name, out _))
                return state.Drive.Get(name) is Provider.GuestFsDriveInfo;
            return word.Length > 0 && !word.StartsWith('/') && state.Path.CurrentLocation.Drive is Provider.GuestFsDriveInfo;
        }
        catch (Exception)
        {
            return false;
        }
    }
}

/// <summary>Tab completion of device names (/dev/sda1 …) from the open session.</summary>
public sealed class GuestDeviceCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        System.Management.Automation.Language.CommandAst commandAst, System.Collections.IDictionary fakeBoundParameters)
    {
        var disk = CompletionSession.Find(fakeBoundParameters);
        if (disk is null) return Array.Empty<CompletionResult>();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var fs = disk.Session.ListFilesystemsAsync(cts.Token).GetAwaiter().GetResult();
            return fs.Where(kv => kv.Key.StartsWith(wordToComplete ?? "", StringComparison.Ordinal))
                     .Select(kv => new CompletionResult(kv.Key, kv.Key, CompletionResultType.ParameterValue, $"{kv.Key} ({kv.Value})"))
                     .ToArray();
        }
        catch (Exception)
        {
            return Array.Empty<CompletionResult>();
        }
    }
}
