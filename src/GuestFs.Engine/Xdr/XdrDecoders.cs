using GuestFs.Engine.Protocol;

namespace GuestFs.Engine.Xdr;

/// <summary>Reply decoders for the plain return kinds.</summary>
public static class XdrDecoders
{
    /// <summary>A value for calls with no return (RErr).</summary>
    public readonly struct Unit { }

    public static readonly ReplyDecoder<Unit> Void = static (ref XdrReader r) => default;
    public static readonly ReplyDecoder<int> Int32 = static (ref XdrReader r) => r.ReadInt32();
    public static readonly ReplyDecoder<long> Int64 = static (ref XdrReader r) => r.ReadInt64();
    public static readonly ReplyDecoder<bool> Bool = static (ref XdrReader r) => r.ReadBool();
    public static readonly ReplyDecoder<string> String = static (ref XdrReader r) => r.ReadString();
    public static readonly ReplyDecoder<string[]> StringArray = static (ref XdrReader r) => r.ReadStringArray();
    public static readonly ReplyDecoder<byte[]> Buffer = static (ref XdrReader r) => r.ReadOpaque();

    /// <summary>RHashtable: a flat list k0, v0, k1, v1 … kept in the daemon's order.</summary>
    public static readonly ReplyDecoder<System.Collections.Generic.IReadOnlyList<System.Collections.Generic.KeyValuePair<string, string>>> Pairs =
        static (ref XdrReader r) =>
        {
            var flat = r.ReadStringArray();
            if (flat.Length % 2 != 0)
                throw new XdrException($"hashtable reply has an odd number of strings ({flat.Length})", r.Position);
            var list = new System.Collections.Generic.KeyValuePair<string, string>[flat.Length / 2];
            for (int i = 0; i < list.Length; i++) list[i] = new(flat[2 * i], flat[2 * i + 1]);
            return list;
        };
}
