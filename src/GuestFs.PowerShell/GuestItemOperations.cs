using System;
using System.IO;
using System.Management.Automation;
using System.Threading;
using System.Threading.Tasks;
using GuestFs.Engine.Library;
using GuestFs.Engine.Session;

namespace GuestFs.PowerShell;

/// <summary>
/// The rules of the item operations, one implementation for the *-GuestItem cmdlets and the
/// GuestFs provider, so the two cannot diverge: what is refused and with which error, where a
/// rename or a move lands, and the daemon calls made. The checks return null when the
/// operation may go on, or the error to write; nothing here asks ShouldProcess or writes.
/// <paramref name="shown"/> arguments are the paths as the user typed them (drive paths in the provider).
/// </summary>
internal static class GuestItemOperations
{
    // ------------------------------------------------------------ remove

    /// <summary>The guest root is never removed.</summary>
    internal static ErrorRecord? CheckRemoveRoot(string guestPath, string shown) =>
        guestPath != "/" ? null : new ErrorRecord(new InvalidOperationException(
            $"Refusing to remove the guest root '/' ({shown}). Remove the items in it instead (Get-GuestChildItem / -Force | Remove-GuestItem -Recurse)."),
            "RemoveRootRefused", ErrorCategory.InvalidOperation, shown);

    /// <summary>A directory that is not empty is removed only with -Recurse.</summary>
    internal static async Task<ErrorRecord?> CheckRemoveAsync(GuestSession s, GuestFileInfo item, string guestPath, bool recurse, string shown, CancellationToken ct)
    {
        if (!item.IsDirectory || recurse) return null;
        var children = await s.LsAsync(guestPath, ct).ConfigureAwait(false);
        return children.Length == 0 ? null : new ErrorRecord(new IOException(
            $"The guest directory '{shown}' is not empty. Use -Recurse to remove it and everything in it."),
            "DirectoryNotEmpty", ErrorCategory.WriteError, shown);
    }

    internal static string RemoveAction(GuestFileInfo item) => item.IsDirectory ? "Remove guest directory" : "Remove guest file";

    /// <summary>Removes a file or link, an empty directory, or with <paramref name="recurse"/> a whole tree.</summary>
    internal static Task RemoveAsync(GuestSession s, GuestFileInfo item, string guestPath, bool recurse, CancellationToken ct) =>
        !item.IsDirectory ? s.RmAsync(guestPath, ct)
        : recurse ? s.RmRfAsync(guestPath, ct)
        : s.RmdirAsync(guestPath, ct);

    // ------------------------------------------------------------ rename and move

    /// <summary>A new name is a plain name: not empty, not . or .., without a '/'.</summary>
    internal static ErrorRecord? CheckNewName(string newName, string moveCommand) =>
        newName.Length > 0 && newName is not ("." or "..") && !newName.Contains('/') ? null
        : new ErrorRecord(new ArgumentException(
            $"'{newName}' is not a plain name to rename to. Renaming stays within the item's directory; use {moveCommand} to move."),
            "NewNameNotAName", ErrorCategory.InvalidArgument, newName);

    /// <summary>Where a rename puts an item: the new name in the item's own directory.</summary>
    internal static string RenameTarget(string guestPath, string newName) => GuestPath.Combine(GuestPath.GetDirectoryName(guestPath), newName);

    /// <summary>
    /// Where a move or a copy puts an item: inside the destination when that is a directory, else
    /// the destination itself; with what already stands there (null when nothing does).
    /// </summary>
    internal static async Task<(string Target, GuestFileInfo? Existing)> MoveTargetAsync(GuestSession s, string guestPath, string destination, CancellationToken ct)
    {
        var destItem = await s.GetItemAsync(destination, ct).ConfigureAwait(false);
        if (destItem is not { IsDirectory: true }) return (destination, destItem);
        string inside = GuestPath.Combine(destination, GuestPath.GetFileName(guestPath));
        return (inside, await s.GetItemAsync(inside, ct).ConfigureAwait(false));
    }

    /// <summary>A rename or move replaces an existing file only with -Force, and never a directory.</summary>
    internal static ErrorRecord? CheckReplace(GuestFileInfo? existing, bool force, string verb, string shownSource, string shownTarget)
    {
        if (existing is null || (!existing.IsDirectory && force)) return null;
        string why = existing.IsDirectory
            ? "a directory with that name exists there, and -Force does not replace directories. Remove it first or choose another name."
            : "an item with that name exists there. Use -Force to replace it.";
        return new ErrorRecord(new IOException($"Cannot {verb} '{shownSource}' to '{shownTarget}': {why}"),
            "DestinationExists", ErrorCategory.ResourceExists, shownSource);
    }

    /// <summary>Renames or moves within one disk.</summary>
    internal static Task MoveAsync(GuestSession s, string guestPath, string target, CancellationToken ct) => s.MvAsync(guestPath, target, ct);

    // ------------------------------------------------------------ new

    /// <summary>What New-GuestItem and New-Item create, checked before the guest is touched.</summary>
    internal sealed record NewItemPlan(GuestFs.PowerShell.Commands.GuestNewItemType Kind, string? LinkTarget, byte[] Content);

    /// <summary>
    /// Validates -Value for the kind of item before anything is changed (a missing link target or a
    /// value that is no content must not cost the file -Force would replace).
    /// </summary>
    internal static ErrorRecord? PrepareNew(GuestFs.PowerShell.Commands.GuestNewItemType kind, object? value, string shown, out NewItemPlan plan)
    {
        plan = new NewItemPlan(kind, null, Array.Empty<byte>());
        object? v = value is PSObject po ? po.BaseObject : value;
        if (kind == GuestFs.PowerShell.Commands.GuestNewItemType.SymbolicLink)
        {
            string? target = v is null ? null : v as string ?? LanguagePrimitives.ConvertTo<string>(v);
            if (string.IsNullOrEmpty(target))
                return new ErrorRecord(new ArgumentException($"A symbolic link needs a target: pass -Value <target path> (for '{shown}')."),
                    "LinkTargetMissing", ErrorCategory.InvalidArgument, shown);
            plan = plan with { LinkTarget = target };
        }
        else if (kind == GuestFs.PowerShell.Commands.GuestNewItemType.File)
        {
            try
            {
                plan = plan with
                {
                    Content = v switch
                    {
                        null => Array.Empty<byte>(),
                        byte[] b => b,
                        string str => System.Text.Encoding.UTF8.GetBytes(str),
                        _ => System.Text.Encoding.UTF8.GetBytes(LanguagePrimitives.ConvertTo<string>(v)),
                    },
                };
            }
            catch (PSInvalidCastException e)
            {
                return new ErrorRecord(new ArgumentException($"-Value cannot be written as file content: {e.Message} Pass a string or a byte array.", e),
                    "ValueNotContent", ErrorCategory.InvalidArgument, shown);
            }
        }
        return null;
    }

    /// <summary>
    /// What an existing item means for a new one: null to go on (nothing there, or a file -Force
    /// replaces), <c>Keep</c> when -Force asks for a directory that exists (nothing to do), or an
    /// ItemExists error (without -Force, or a directory, which -Force never replaces).
    /// </summary>
    internal static (bool Keep, ErrorRecord? Refused) CheckNewOverExisting(GuestFileInfo? existing, GuestFs.PowerShell.Commands.GuestNewItemType kind, bool force, string shown, string removeCommand)
    {
        if (existing is null) return (false, null);
        if (kind == GuestFs.PowerShell.Commands.GuestNewItemType.Directory && existing.IsDirectory && force) return (true, null);
        if (force && !existing.IsDirectory) return (false, null);
        string advice = existing.IsDirectory
            ? $"It is a directory{(force ? ", which -Force does not replace" : "")}; remove it first with {removeCommand} -Recurse."
            : "Use -Force to replace it.";
        return (false, new ErrorRecord(new IOException($"The guest item '{shown}' already exists. {advice}"),
            "ItemExists", ErrorCategory.ResourceExists, shown));
    }

    /// <summary>
    /// Creates the item (directories with their parents). <paramref name="replace"/> removes the
    /// existing file first; with <paramref name="force"/> the parents of a file or link are made too.
    /// </summary>
    internal static async Task CreateAsync(GuestSession s, string guestPath, NewItemPlan plan, bool replace, bool force, CancellationToken ct)
    {
        if (replace) await s.RmAsync(guestPath, ct).ConfigureAwait(false);
        if (plan.Kind != GuestFs.PowerShell.Commands.GuestNewItemType.Directory && force)
            await s.MkdirPAsync(GuestPath.GetDirectoryName(guestPath), ct).ConfigureAwait(false);
        switch (plan.Kind)
        {
            case GuestFs.PowerShell.Commands.GuestNewItemType.Directory:
                await s.MkdirPAsync(guestPath, ct).ConfigureAwait(false);
                break;
            case GuestFs.PowerShell.Commands.GuestNewItemType.SymbolicLink:
                await s.LnSAsync(plan.LinkTarget!, guestPath, ct).ConfigureAwait(false);
                break;
            default:
                await s.WriteAsync(guestPath, plan.Content, ct).ConfigureAwait(false);
                break;
        }
    }

    // ------------------------------------------------------------ copy within a disk

    /// <summary>A directory is never copied into itself or below itself.</summary>
    internal static ErrorRecord? CheckCopy(GuestFileInfo item, string guestPath, string target, string shownSource, string shownTarget) =>
        item.IsDirectory && (target == guestPath || target.StartsWith(guestPath.TrimEnd('/') + "/", StringComparison.Ordinal))
            ? new ErrorRecord(new IOException($"Cannot copy '{shownSource}' into itself ('{shownTarget}')."), "CopyIntoItself", ErrorCategory.InvalidArgument, shownSource)
            : null;

    internal static string CopyAction(GuestFileInfo item, bool recurse) =>
        !item.IsDirectory ? "Copy guest file" : recurse ? "Copy guest directory tree" : "Copy guest directory (without contents)";

    /// <summary>
    /// Copies within one disk: a file with cp; a directory without <paramref name="recurse"/> as an
    /// empty directory; a tree with cp -a, into an existing directory as its contents (cp -a would
    /// nest the copy one level deeper).
    /// </summary>
    internal static Task CopyAsync(GuestSession s, GuestFileInfo item, string guestPath, string target, GuestFileInfo? existing, bool recurse, CancellationToken ct)
    {
        if (!item.IsDirectory) return s.CpAsync(guestPath, target, ct);
        if (!recurse) return existing is null ? s.MkdirPAsync(target, ct) : Task.CompletedTask;
        return existing is { IsDirectory: true } ? s.CpAAsync(guestPath.TrimEnd('/') + "/.", target, ct) : s.CpAAsync(guestPath, target, ct);
    }
}
