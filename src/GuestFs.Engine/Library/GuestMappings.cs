using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;

namespace GuestFs.Engine.Library;

/// <summary>One entry of an operating system's mount table: where the guest mounts a device.</summary>
public sealed record GuestMountpoint(string MountPoint, string Device)
{
    public override string ToString() => $"{MountPoint}={Device}";
}

/// <summary>One Windows drive letter and the device behind it.</summary>
public sealed record GuestDriveLetter(string Letter, string Device)
{
    public override string ToString() => $"{Letter}:={Device}";
}

/// <summary>
/// An ordered, read-only list of small records looked up by key, made to travel: JSON gives an
/// array of plain records, remoting keeps the records, and CSV (which writes a property's
/// ToString()) gets the same "key=device; …" text a user reads on screen, never a type name.
/// Indexing with a key (<c>$os.Mountpoints['/']</c>) gives the device, or null.
/// </summary>
public abstract class GuestKeyedList<T> : IReadOnlyList<T> where T : notnull
{
    private readonly T[] _items;
    private readonly Func<T, string> _key;
    private readonly Func<T, string> _device;
    private readonly StringComparer _comparer;

    private protected GuestKeyedList(IEnumerable<T> items, Func<T, string> key, Func<T, string> device, StringComparer comparer)
    {
        _items = items.ToArray();
        _key = key;
        _device = device;
        _comparer = comparer;
    }

    public int Count => _items.Length;

    public T this[int index] => _items[index];

    /// <summary>The device for a key, or null when the list has no such key.</summary>
    public string? this[string key]
    {
        get
        {
            foreach (var item in _items)
                if (_comparer.Equals(_key(item), key)) return _device(item);
            return null;
        }
    }

    /// <summary>The keys in order (mount points, or drive letters).</summary>
    public IReadOnlyList<string> Keys => _items.Select(_key).ToArray();

    public bool ContainsKey(string key) => this[key] is not null;

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => string.Join("; ", _items.Select(i => i.ToString()));
}

/// <summary>
/// A read-only list of strings whose ToString() is the items joined with "; ", so that
/// Export-Csv writes the items rather than a type name.
/// </summary>
public sealed class GuestTextList : System.Collections.ObjectModel.ReadOnlyCollection<string>
{
    public static readonly GuestTextList Empty = new(Array.Empty<string>());

    public GuestTextList(IEnumerable<string> items) : base(items.ToArray()) { }

    public override string ToString() => string.Join("; ", this);
}

/// <summary>Installed applications; in CSV (ToString) the count, as the default view shows it.</summary>
public sealed class GuestApplicationList : System.Collections.ObjectModel.ReadOnlyCollection<GuestApplication>
{
    public GuestApplicationList(IEnumerable<GuestApplication> items) : base(items.ToArray()) { }

    public override string ToString() => Count == 1 ? "1 application" : $"{Count} applications";
}

/// <summary>Mount points of an operating system, shortest first (the order to mount them in).</summary>
public sealed class GuestMountpointList : GuestKeyedList<GuestMountpoint>
{
    public static readonly GuestMountpointList Empty = new(Array.Empty<GuestMountpoint>());

    public GuestMountpointList(IEnumerable<GuestMountpoint> items)
        : base(items, m => m.MountPoint, m => m.Device, StringComparer.Ordinal) { }
}

/// <summary>Windows drive letters of an operating system, in letter order (case-insensitive lookup).</summary>
public sealed class GuestDriveLetterList : GuestKeyedList<GuestDriveLetter>
{
    public static readonly GuestDriveLetterList Empty = new(Array.Empty<GuestDriveLetter>());

    public GuestDriveLetterList(IEnumerable<GuestDriveLetter> items)
        : base(items, d => d.Letter, d => d.Device, StringComparer.OrdinalIgnoreCase) { }
}
