# The registry of a Windows guest as a PowerShell drive (GuestRegistry provider),
# Export-GuestRegistry and Import-GuestRegistry, on the phony Windows images of
# WindowsImages.ps1, compared with virt-win-reg (guestfs-tools, the reference;
# test-only). Each virt-win-reg run boots an appliance, so each runs once and
# everything is compared from that run: an export of HKLM\SYSTEM (GPT image) and of
# HKLM\SOFTWARE (MBR image); --merge of one .reg file into one copy of the GPT image,
# Import-GuestRegistry of the same file into another, each read back once; and one
# read-back of a copy changed through the provider.
BeforeDiscovery {
    . $PSScriptRoot/TestSupport.ps1
}

BeforeAll {
    . $PSScriptRoot/TestSupport.ps1
    . $PSScriptRoot/GuestImages.ps1
    . $PSScriptRoot/WindowsImages.ps1
    $script:images = Get-GuestFsWindowsImages
    $env:LIBGUESTFS_BACKEND = 'direct'
    if (-not $env:LIBGUESTFS_BACKEND_SETTINGS) { $env:LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg' }

    # virt-win-reg once; its .reg text.
    # virt-win-reg writes no version line and names the hive's root key with a
    # trailing backslash ([HKEY_LOCAL_MACHINE\SYSTEM\]): both are put right here.
    function Format-VirtWinReg([string[]] $Lines) {
        "Windows Registry Editor Version 5.00`n`n" + ((($Lines | ForEach-Object { "$_" }) -join "`n") -replace '(?m)^(\[.*)\\\]$', '$1]')
    }
    function Invoke-VirtWinReg([string[]] $Arguments) {
        $out = & virt-win-reg --format=raw @Arguments 2>&1
        if ($LASTEXITCODE -ne 0) { throw "virt-win-reg $Arguments failed ($LASTEXITCODE): $out" }
        Format-VirtWinReg $out
    }

    # Key lists compare as sets: virt-win-reg sorts keys as Perl sorts strings, the
    # hive (and GuestFs) keeps them in the hive's upper-case order.
    function Get-SortedKeys($Keys) { [string[]] $a = @($Keys); [Array]::Sort($a, [StringComparer]::Ordinal); , $a }

    # A parsed .reg text as 'KEY|name' -> 'type:hex' (keys and names upper-cased: the
    # registry ignores case), and the list of keys. virt-win-reg writes strings as
    # hex(1), reg.exe as "quoted": both parse to type 1 and the same bytes.
    function ConvertFrom-RegText([string] $Text) {
        $values = [ordered]@{}
        $keys = [Collections.Generic.List[string]]::new()
        foreach ($op in [GuestFs.Engine.Library.Registry.RegFile]::Parse($Text)) {
            if ($op -is [GuestFs.Engine.Library.Registry.RegKeyOperation]) { $keys.Add($op.KeyPath.ToUpperInvariant()); continue }
            $values["$($op.KeyPath.ToUpperInvariant())|$($op.Name.ToUpperInvariant())"] = "$($op.Type):$([Convert]::ToHexString($op.Data))"
        }
        [pscustomobject]@{ Values = $values; Keys = $keys }
    }

    # The virt-win-reg runs that need nothing from GuestFs (the two exports; the merge into its own
    # copy and its read-back) go to a background lane now, while the foreground does GuestFs's side.
    $script:work = Join-Path ([IO.Path]::GetTempPath()) "gfs-registry-$PID"
    New-Item -ItemType Directory -Force -Path $work | Out-Null
    $script:copyRef = Join-Path $work 'merge-virt-win-reg.img'
    $script:copyOurs = Join-Path $work 'merge-guestfs.img'
    $script:copyDrive = Join-Path $work 'provider.img'
    foreach ($c in $copyRef, $copyOurs, $copyDrive) { Copy-Item $images.Gpt $c }

    # One .reg file (UTF-8, REGEDIT5) for both: new keys, every value type, the
    # default value, a value deletion in a key with subkeys, a key deletion, RunOnce.
    $script:mergeFile = Join-Path $work 'merge.reg'
    $cv = 'HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
    $merge = @"
Windows Registry Editor Version 5.00

; offline changes
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce]
"Fixup"="C:\\fix\\fixup.cmd /q"

[HKEY_LOCAL_MACHINE\SOFTWARE\GfsMerge]
@="default text"
"Str"="C:\\Program Files\\x \"quoted\""
"Exp"=hex(2):25,00,41,00,25,00,00,00
"Multi"=hex(7):61,00,00,00,62,00,00,00,00,00
"Q"=hex(b):01,02,03,04,05,06,07,08
"Bin"=hex:00,ff,\
  10,20
"D"=dword:deadbeef

[HKEY_LOCAL_MACHINE\SOFTWARE\GfsMerge\Child]
"x"="y"

[$cv]
"RegisteredOwner"=-
"ProductName"="Windows Server 2019 Datacenter (repaired)"

[-HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node]
"@
    [IO.File]::WriteAllText($mergeFile, $merge.Replace("`r`n", "`n").Replace("`n", "`r`n"), [Text.UTF8Encoding]::new($false))
    # The first block needs "system" at once, so the foreground runs that one itself (the lane
    # leaves a job the foreground has taken) while the lane starts with the others.
    $jobs = [ordered]@{
        merge = (ConvertTo-BashLine @('virt-win-reg', '--format=raw', '--merge', $copyRef, $mergeFile)) + " >/dev/null`n" +
            (ConvertTo-BashLine @('virt-win-reg', '--format=raw', $copyRef, 'HKLM\SOFTWARE'))
        software = ConvertTo-BashLine @('virt-win-reg', '--format=raw', $images.Mbr, 'HKLM\SOFTWARE')
        system = ConvertTo-BashLine @('virt-win-reg', '--format=raw', $images.Gpt, 'HKLM\SYSTEM')
    }
    $script:lane = Start-ReferenceLane $work $jobs
}

AfterAll {
    Stop-ReferenceLane $script:lane
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}

Describe 'GuestRegistry provider (read-only), compared with virt-win-reg' -Tag 'Appliance', 'Windows' {
    BeforeAll {
        # The reference: virt-win-reg exports the whole SYSTEM hive of the GPT image.
        $script:refText = Format-VirtWinReg (Wait-ReferenceJob $lane system)
        $script:ref = ConvertFrom-RegText $refText
        $script:refOps = [GuestFs.Engine.Library.Registry.RegFile]::Parse($refText)

        $script:disk = Open-GuestDisk -Path $images.Gpt -Inspect
        New-PSDrive -Name GS -PSProvider GuestRegistry -Root 'HKLM\SYSTEM' -Disk $disk | Out-Null
        New-PSDrive -Name GW -PSProvider GuestRegistry -Root 'HKEY_LOCAL_MACHINE\SOFTWARE' -Disk $disk | Out-Null
    }
    AfterAll {
        Get-PSDrive -PSProvider GuestRegistry -ErrorAction SilentlyContinue | Remove-PSDrive
        Close-GuestDisk -All
    }

    It 'Export-GuestRegistry of HKLM\SYSTEM has every key and value virt-win-reg exports, byte for byte' {
        $ref.Keys.Count | Should -BeGreaterThan 8
        $file = Join-Path $TestDrive 'system.reg'
        Export-GuestRegistry -Disk $disk -Key 'hklm\system' -Path $file | Should -BeOfType ([IO.FileInfo])
        $ours = ConvertFrom-RegText ([GuestFs.Engine.Library.Registry.RegFile]::Decode([IO.File]::ReadAllBytes($file)))
        (Get-SortedKeys $ours.Keys) | Should -Be (Get-SortedKeys $ref.Keys)
        $ours.Values.Count | Should -Be $ref.Values.Count
        foreach ($k in $ref.Values.Keys) { $ours.Values[$k] | Should -Be $ref.Values[$k] -Because $k }
    }

    It 'writes what reg.exe export writes: UTF-16LE with BOM, CRLF, the version line, dword:, hex(2), hex(7), hex(b), hex:, "strings"' {
        $file = Join-Path $TestDrive 'gfsbad.reg'
        Export-GuestRegistry -Disk $disk -Key 'HKLM\SYSTEM\CurrentControlSet\Services\gfsbad' -Path $file | Out-Null
        $bytes = [IO.File]::ReadAllBytes($file)
        $bytes[0..1] | Should -Be @(0xFF, 0xFE)
        $text = [Text.Encoding]::Unicode.GetString($bytes, 2, $bytes.Length - 2)
        $text | Should -BeLike "Windows Registry Editor Version 5.00`r`n`r`n[[]HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\gfsbad]`r`n*"
        ($text -replace "`r`n", '') | Should -Not -Match "`n" -Because 'every line ends in CRLF'
        $text | Should -Match '(?m)^"Start"=dword:00000001\r$'
        $text | Should -Match '(?m)^"ImagePath"=hex\(2\):53,00,79,00'
        $text | Should -Match '(?m)^"DependOnService"=hex\(7\):46,00,6c,00'
        $text | Should -Match '(?m)^"Tag"=hex\(b\):08,07,06,05,04,03,02,01\r$'
        $text | Should -Match '(?m)^"Blob"=hex:de,ad,be,ef\r$'
        $text | Should -BeLike "*`r`n`r`n" -Because 'each key section ends with a blank line'
        (Export-GuestRegistry -Disk $disk -Key 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run') |
            Should -Match '(?m)^"Updater"="C:\\\\Program Files\\\\Example App\\\\update.exe /quiet"\r$'
    }

    It 'Get-ChildItem -Recurse lists the keys virt-win-reg exports' {
        $names = @(Get-ChildItem GS:\ -Recurse | ForEach-Object { $_.Name.ToUpperInvariant() })
        (Get-SortedKeys $names) | Should -Be (Get-SortedKeys ($ref.Keys | Where-Object { $_ -ne 'HKEY_LOCAL_MACHINE\SYSTEM' }))
        (Get-Item GS:\).Name | Should -Be 'HKEY_LOCAL_MACHINE\SYSTEM'
    }

    It 'Get-ItemProperty gives every value virt-win-reg exports, typed as the Registry provider types them' {
        $checked = 0
        foreach ($op in $refOps) {
            if ($op -isnot [GuestFs.Engine.Library.Registry.RegValueOperation]) { continue }
            $rel = $op.KeyPath.Substring('HKEY_LOCAL_MACHINE\SYSTEM'.Length).TrimStart('\')
            $name = if ($op.Name) { $op.Name } else { '(default)' }
            $ours = Get-ItemPropertyValue -LiteralPath "GS:\$rel" -Name $name
            # Straight from the method: a function's output would unroll a byte[] into object[].
            $expected = [GuestFs.Engine.Library.Registry.RegData]::ToObject($op.Type, $op.Data)
            if ($expected -is [array]) { , $ours | Should -BeOfType $expected.GetType() } else { $ours | Should -BeOfType $expected.GetType() }
            $ours | Should -Be $expected -Because "$($op.KeyPath)\$name"
            $checked++
        }
        $checked | Should -BeGreaterThan 15
    }

    It 'types values as the Registry provider does: DWord int, QWord long, MultiString string[], ExpandString string (not expanded), Binary byte[]' {
        $p = Get-ItemProperty 'GS:\ControlSet001\Services\gfsbad'
        $p.Start | Should -BeOfType ([int])
        $p.Start | Should -Be 1
        $p.Tag | Should -BeOfType ([long])
        $p.Tag | Should -Be 0x0102030405060708
        , $p.DependOnService | Should -BeOfType ([string[]])
        $p.DependOnService | Should -Be @('FltMgr', 'Tcpip')
        $p.ImagePath | Should -Be 'System32\drivers\gfsbad.sys'
        , $p.Blob | Should -BeOfType ([byte[]])
        $p.Blob | Should -Be @(0xde, 0xad, 0xbe, 0xef)
        $k = Get-Item 'GS:\ControlSet001\Services\gfsbad'
        $k.GetValueKind('DependOnService') | Should -Be 'MultiString'
        $k.Property | Should -Be @('Start', 'Type', 'ErrorControl', 'ImagePath', 'DependOnService', 'Tag', 'Blob')
    }

    It 'resolves CurrentControlSet through Select\Current, without regard to case' {
        Get-ItemPropertyValue 'GS:\CurrentControlSet\Services\Tcpip\Parameters' -Name Hostname | Should -Be 'GFS-WIN2019'
        Get-ItemPropertyValue 'GS:\currentcontrolset\services\TCPIP\parameters' -Name hostname | Should -Be 'GFS-WIN2019'
        Get-ItemPropertyValue 'GS:\ControlSet002\Services\Tcpip\Parameters' -Name Hostname | Should -Be 'NOT-THE-CURRENT-SET'
        (Get-Item 'GS:\currentcontrolset\services\TCPIP').Name | Should -Be 'HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip'
        Test-Path 'GS:\CurrentControlSet\Control\ComputerName' | Should -BeTrue
    }

    It 'Test-Path and wildcards work as on HKLM:' {
        Test-Path 'GW:\Microsoft\Windows NT\CurrentVersion' | Should -BeTrue
        Test-Path 'GW:\Microsoft\No Such Key' | Should -BeFalse
        Test-Path 'GS:\ControlSet00*' | Should -BeTrue
        @(Get-Item 'GS:\ControlSet00?' | ForEach-Object KeyName) | Should -Be @('ControlSet001', 'ControlSet002')
        @(Get-Item 'GW:\Microsoft\Windows\CurrentVersion\Uninstall\*' | ForEach-Object KeyName) |
            Should -Be @('apple-utils', 'KB4000001', 'Zeta Tool', '{6F1A2B3C-0000-4000-8000-00000000E001}')
        @(Get-ChildItem 'GW:\Microsoft\Windows\CurrentVersion\Uninstall' -Include 'z*' -Recurse | ForEach-Object KeyName) | Should -Be @('Zeta Tool')
        (Get-ItemProperty 'GW:\Microsoft\Windows NT\CurrentVersion' -Name Product*).ProductName | Should -Be 'Windows Server 2019 Datacenter'
    }

    It 'maps HKU\.DEFAULT, HKU\(user name), HKU\(SID), HKLM\SAM and HKLM\SECURITY as virt-win-reg does' {
        New-PSDrive -Name GA -PSProvider GuestRegistry -Root 'HKU\alice' -Disk $disk | Out-Null
        New-PSDrive -Name GU -PSProvider GuestRegistry -Root "HKEY_USERS\$script:WinAliceSid" -Disk $disk | Out-Null
        New-PSDrive -Name GD -PSProvider GuestRegistry -Root 'HKU\.DEFAULT' -Disk $disk | Out-Null
        New-PSDrive -Name GM -PSProvider GuestRegistry -Root 'HKLM\SAM\SAM\Domains' -Disk $disk | Out-Null
        New-PSDrive -Name GC -PSProvider GuestRegistry -Root 'HKLM\SECURITY' -Disk $disk | Out-Null
        Get-ItemPropertyValue GA:\Software\GfsTest -Name Greeting | Should -Be 'hello Alice'
        Get-ItemPropertyValue GU:\Software\GfsTest -Name Count | Should -Be 42
        (Get-Item GU:\Software).Name | Should -Be "HKEY_USERS\$script:WinAliceSid\Software"
        Get-ItemPropertyValue 'GD:\Control Panel\Desktop' -Name Wallpaper | Should -Be ''
        $f = Get-ItemPropertyValue GM:\Account -Name F
        , $f | Should -BeOfType ([byte[]])
        $f -join ',' | Should -Be '1,2'
        (Get-Item GM:\Account).Name | Should -Be 'HKEY_LOCAL_MACHINE\SAM\SAM\Domains\Account'
        Get-ItemPropertyValue GC:\Policy -Name Version | Should -Be 1
    }

    It 'a missing key is ItemNotFound (provider, Export-GuestRegistry and New-PSDrive)' {
        { Get-Item 'GS:\NoSuchKey' -ErrorAction Stop } | Should -Throw -ExceptionType ([Management.Automation.ItemNotFoundException])
        { Get-ItemProperty 'GS:\ControlSet001\NoSuchKey' -ErrorAction Stop } | Should -Throw -ExceptionType ([Management.Automation.ItemNotFoundException])
        { Get-ItemPropertyValue 'GS:\ControlSet001\Services\gfsbad' -Name NoSuchValue -ErrorAction Stop } | Should -Throw '*NoSuchValue*'
        { Export-GuestRegistry -Disk $disk -Key 'HKLM\SOFTWARE\NoSuchKey' -ErrorAction Stop } | Should -Throw -ErrorId 'RegistryKeyNotFound,GuestFs.PowerShell.Commands.ExportGuestRegistryCommand'
        $e = $null
        New-PSDrive -Name GX -PSProvider GuestRegistry -Root 'HKLM\SOFTWARE\NoSuchKey' -Disk $disk -ErrorAction SilentlyContinue -ErrorVariable e | Out-Null
        $e[0].FullyQualifiedErrorId | Should -BeLike 'RegistryKeyNotFound*'
        $e[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        { New-PSDrive -Name GY -PSProvider GuestRegistry -Root 'HKCU\Software' -Disk $disk -ErrorAction Stop } | Should -Throw '*HKLM\SOFTWARE*'
        Get-PSDrive GX, GY -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'a read-only disk refuses every change, naming -Writable, and changes nothing' {
        $before = (Get-GuestFileHash -Disk $disk -Path /Windows/System32/config/SYSTEM).Hash
        { Set-ItemProperty 'GS:\CurrentControlSet\Services\gfsbad' -Name Start -Value 4 -ErrorAction Stop } | Should -Throw '*-Writable*'
        { New-Item 'GS:\GfsNew' -ErrorAction Stop } | Should -Throw -ErrorId 'GuestDiskReadOnly,Microsoft.PowerShell.Commands.NewItemCommand'
        { Remove-Item 'GS:\ControlSet002' -Recurse -ErrorAction Stop } | Should -Throw '*-Writable*'
        { Remove-ItemProperty 'GS:\ControlSet001\Services\gfsbad' -Name Blob -ErrorAction Stop } | Should -Throw '*-Writable*'
        { New-ItemProperty 'GS:\ControlSet001\Services\gfsbad' -Name X -Value 1 -ErrorAction Stop } | Should -Throw '*-Writable*'
        $reg = Join-Path $TestDrive 'ro.reg'
        [IO.File]::WriteAllText($reg, "Windows Registry Editor Version 5.00`r`n`r`n[HKEY_LOCAL_MACHINE\SYSTEM\GfsNew]`r`n")
        { Import-GuestRegistry -Disk $disk -Path $reg -ErrorAction Stop } | Should -Throw -ErrorId 'GuestDiskReadOnly,GuestFs.PowerShell.Commands.ImportGuestRegistryCommand'
        Get-ItemPropertyValue 'GS:\CurrentControlSet\Services\gfsbad' -Name Start | Should -Be 1
        Test-Path GS:\GfsNew | Should -BeFalse
        (Get-GuestFileHash -Disk $disk -Path /Windows/System32/config/SYSTEM).Hash | Should -Be $before
        @(Get-GuestChildItem -Disk $disk -Path /Windows/System32/config | Where-Object Name -like '*.guestfs-edit*') | Should -BeNullOrEmpty
    }

    Context 'the Windows 7 image (MBR)' {
        BeforeAll {
            $script:refSoftware = ConvertFrom-RegText (Format-VirtWinReg (Wait-ReferenceJob $lane software))
        }

        It 'Export-GuestRegistry of HKLM\SOFTWARE equals virt-win-reg''s' {
            $mbr = Open-GuestDisk -Path $images.Mbr -Inspect
            try {
                $ours = ConvertFrom-RegText (Export-GuestRegistry -Disk $mbr -Key 'HKEY_LOCAL_MACHINE\SOFTWARE')
                $refSoftware.Values.Count | Should -BeGreaterThan 8
                (Get-SortedKeys $ours.Keys) | Should -Be (Get-SortedKeys $refSoftware.Keys)
                $ours.Values.Count | Should -Be $refSoftware.Values.Count
                foreach ($k in $refSoftware.Values.Keys) { $ours.Values[$k] | Should -Be $refSoftware.Values[$k] -Because $k }
            }
            finally { Close-GuestDisk -Disk $mbr }
        }
    }

    Context 'a disk without an inspected Windows system' {
        It 'says it has no Windows registry (NotAWindowsDisk), for the drive and the cmdlets' {
            $plain = Open-GuestDisk -Path $images.Gpt
            try {
                Mount-GuestFs -Disk $plain -Device /dev/sda1 -MountPoint / -ReadOnly
                $e = $null
                New-PSDrive -Name GN -PSProvider GuestRegistry -Root 'HKLM\SOFTWARE' -Disk $plain -ErrorAction SilentlyContinue -ErrorVariable e | Out-Null
                $e[0].FullyQualifiedErrorId | Should -BeLike 'NotAWindowsDisk*'
                $e[0].Exception.Message | Should -Match 'not opened with -Inspect on a Windows guest'
                Get-PSDrive GN -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
                { Export-GuestRegistry -Disk $plain -Key 'HKLM\SOFTWARE' -ErrorAction Stop } | Should -Throw -ErrorId 'NotAWindowsDisk,GuestFs.PowerShell.Commands.ExportGuestRegistryCommand'
            }
            finally { Close-GuestDisk -Disk $plain }
        }
    }
}

Describe 'Changing the registry, compared with virt-win-reg --merge' -Tag 'Appliance', 'Windows' {
    BeforeAll {
        # The reference merges into one copy (in the lane); ours into the other.
        $d = Open-GuestDisk -Path $copyOurs -Inspect -Writable
        try { Import-GuestRegistry -Disk $d -Path $mergeFile }
        finally { Close-GuestDisk -Disk $d }

        # Both read back with virt-win-reg.
        $script:afterRef = ConvertFrom-RegText (Format-VirtWinReg (Wait-ReferenceJob $lane merge))
        $script:afterOurs = ConvertFrom-RegText (Invoke-VirtWinReg @($copyOurs, 'HKLM\SOFTWARE'))
    }
    AfterAll { Close-GuestDisk -All }

    It 'the merge made the changes of the file (so the comparison that follows means something)' {
        $sw = 'HKEY_LOCAL_MACHINE\SOFTWARE'
        $afterRef.Values["$sw\GFSMERGE|D"] | Should -Be '4:EFBEADDE'
        $afterRef.Values["$sw\GFSMERGE|BIN"] | Should -Be '3:00FF1020'
        $afterRef.Keys | Should -Not -Contain "$sw\WOW6432NODE"
        $afterRef.Values.Keys | Should -Not -Contain "$sw\MICROSOFT\WINDOWS NT\CURRENTVERSION|REGISTEREDOWNER"
    }

    It 'Import-GuestRegistry leaves the SOFTWARE hive as virt-win-reg --merge does' {
        (Get-SortedKeys $afterOurs.Keys) | Should -Be (Get-SortedKeys $afterRef.Keys)
        $afterOurs.Values.Count | Should -Be $afterRef.Values.Count
        foreach ($k in $afterRef.Values.Keys) { $afterOurs.Values[$k] | Should -Be $afterRef.Values[$k] -Because $k }
    }

    It 'a syntax error is refused with its line number, and nothing is written' {
        $bad = Join-Path $work 'bad.reg'
        [IO.File]::WriteAllText($bad, "Windows Registry Editor Version 5.00`r`n`r`n[HKEY_LOCAL_MACHINE\SOFTWARE\GfsBad]`r`n`"ok`"=dword:00000001`r`n`"broken`"=dword:nothex`r`n")
        $d = Open-GuestDisk -Path $copyOurs -Inspect -Writable
        try {
            $before = (Get-GuestFileHash -Disk $d -Path /Windows/System32/config/SOFTWARE).Hash
            $err = $null
            try { Import-GuestRegistry -Disk $d -Path $bad -ErrorAction Stop } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.FullyQualifiedErrorId | Should -Be 'RegSyntaxError,GuestFs.PowerShell.Commands.ImportGuestRegistryCommand'
            $err.CategoryInfo.Category | Should -Be 'ParserError'
            $err.Exception.Message | Should -Match 'line 5: dword: of "broken"'
            (Get-GuestFileHash -Disk $d -Path /Windows/System32/config/SOFTWARE).Hash | Should -Be $before
            @(Get-GuestChildItem -Disk $d -Path /Windows/System32/config | Where-Object Name -like '*.guestfs-edit*') | Should -BeNullOrEmpty
            # A key in no hive GuestFs maps is refused the same way, before anything is written.
            [IO.File]::WriteAllText($bad, "Windows Registry Editor Version 5.00`r`n`r`n[HKEY_LOCAL_MACHINE\SOFTWARE\GfsBad]`r`n`r`n[HKEY_CURRENT_USER\Software\X]`r`n")
            { Import-GuestRegistry -Disk $d -Path $bad -ErrorAction Stop } | Should -Throw '*line 5*'
            (Get-GuestFileHash -Disk $d -Path /Windows/System32/config/SOFTWARE).Hash | Should -Be $before
        }
        finally { Close-GuestDisk -Disk $d }
    }

    It 'imports REGEDIT4 (8-bit) and UTF-16LE files; a failure in a later hive leaves no change in an earlier one' {
        $d = Open-GuestDisk -Path $copyOurs -Inspect -Writable
        try {
            $v4 = Join-Path $work 'v4.reg'
            [IO.File]::WriteAllBytes($v4, [Text.Encoding]::Latin1.GetBytes("REGEDIT4`r`n`r`n[HKEY_LOCAL_MACHINE\SOFTWARE\GfsV4]`r`n`"Exp`"=hex(2):25,41,25,00`r`n`"S`"=`"caf$([char]0xe9)`"`r`n`"D`"=dword:00000010`r`n"))
            Import-GuestRegistry -Disk $d -Path $v4
            $u16 = Join-Path $work 'u16.reg'
            [IO.File]::WriteAllText($u16, "Windows Registry Editor Version 5.00`r`n`r`n[HKEY_LOCAL_MACHINE\SOFTWARE\GfsV4\Wide]`r`n@=`"$([char]0xfc)ber $([char]0x4e2d)`"`r`n", [Text.UnicodeEncoding]::new($false, $true))
            Import-GuestRegistry -Disk $d -Path $u16
            New-PSDrive -Name GO -PSProvider GuestRegistry -Root 'HKLM\SOFTWARE\GfsV4' -Disk $d | Out-Null
            $k = Get-Item GO:\
            $k.GetValue('Exp') | Should -Be '%A%'
            $k.GetValueKind('Exp') | Should -Be 'ExpandString'
            $k.GetValue('S') | Should -Be "caf$([char]0xe9)"
            $k.GetValue('D') | Should -Be 16
            Get-ItemPropertyValue GO:\Wide -Name '(default)' | Should -Be "$([char]0xfc)ber $([char]0x4e2d)"

            $software = (Get-GuestFileHash -Disk $d -Path /Windows/System32/config/SOFTWARE).Hash
            $partial = Join-Path $work 'partial.reg'
            [IO.File]::WriteAllText($partial, "Windows Registry Editor Version 5.00`r`n`r`n[HKEY_LOCAL_MACHINE\SOFTWARE\GfsPartial]`r`n`"a`"=`"b`"`r`n`r`n[HKEY_LOCAL_MACHINE\SYSTEM]`r`n`"x`"=-`r`n")
            { Import-GuestRegistry -Disk $d -Path $partial -ErrorAction Stop } | Should -Throw -ErrorId 'ImportFailed,GuestFs.PowerShell.Commands.ImportGuestRegistryCommand'
            (Get-GuestFileHash -Disk $d -Path /Windows/System32/config/SOFTWARE).Hash | Should -Be $software
            { Export-GuestRegistry -Disk $d -Key 'HKLM\SOFTWARE\GfsPartial' -ErrorAction Stop } | Should -Throw -ErrorId 'RegistryKeyNotFound,GuestFs.PowerShell.Commands.ExportGuestRegistryCommand'
            @(Get-GuestChildItem -Disk $d -Path /Windows/System32/config | Where-Object Name -like '*.guestfs-edit*') | Should -BeNullOrEmpty
        }
        finally { Close-GuestDisk -Disk $d }
        Get-PSDrive GO -ErrorAction SilentlyContinue | Should -BeNullOrEmpty -Because 'Close-GuestDisk removes the disk''s registry drives'
    }

    It 'Ctrl+C during an import leaves every hive as it was, also the hive the import had already changed' {
        $hives = '/Windows/System32/config/SOFTWARE', '/Windows/System32/config/SYSTEM'
        $d = Open-GuestDisk -Path $copyOurs -Inspect -Writable
        $before = @($hives | ForEach-Object { (Get-GuestFileHash -Disk $d -Path $_).Hash })
        # SOFTWARE first (one value), then many keys in SYSTEM: the stop lands in the second hive.
        $big = Join-Path $work 'stopped.reg'
        $text = [Text.StringBuilder]::new("Windows Registry Editor Version 5.00`r`n`r`n[HKEY_LOCAL_MACHINE\SOFTWARE\GfsStopped]`r`n`"first`"=`"hive`"`r`n`r`n")
        foreach ($i in 1..600) { [void]$text.Append("[HKEY_LOCAL_MACHINE\SYSTEM\GfsStopped\K$i]`r`n`"v`"=dword:$('{0:x8}' -f $i)`r`n`r`n") }
        [IO.File]::WriteAllText($big, $text.ToString())
        # Ctrl+C as soon as the first hive's changes are made (its verbose line).
        $r = Stop-GuestFsCommandWhen Import-GuestRegistry @{ Disk = $d; Path = $big; Verbose = $true } {
            param($ps) [bool]@($ps.Streams.Verbose.ReadAll() | Where-Object Message -like 'HKEY_LOCAL_MACHINE\SOFTWARE:*changes made*')
        } -TimeoutSeconds 180
        $r.EndedBeforeStop | Should -BeFalse -Because 'the stop must come while the SYSTEM hive is being changed'
        $r.State | Should -Be 'Stopped'
        $d.State | Should -Be 'Ready'
        @(Get-GuestChildItem -Disk $d -Path /Windows/System32/config | Where-Object Name -like '*.guestfs-edit*') | Should -BeNullOrEmpty
        Close-GuestDisk -Disk $d
        # What Close-GuestDisk left on the image: both hives byte for byte as before.
        $d = Open-GuestDisk -Path $copyOurs -Inspect
        try { @($hives | ForEach-Object { (Get-GuestFileHash -Disk $d -Path $_).Hash }) | Should -Be $before }
        finally { Close-GuestDisk -Disk $d }
    }

    Context 'through the provider' {
        BeforeAll {
            $script:pd = Open-GuestDisk -Path $copyDrive -Inspect -Writable
            $script:origHash = (Get-GuestFileHash -Disk $pd -Path /Windows/System32/config/SYSTEM).Hash
            New-PSDrive -Name GP -PSProvider GuestRegistry -Root 'HKLM\SYSTEM' -Disk $pd | Out-Null
        }
        AfterAll { Close-GuestDisk -All }

        It '-WhatIf changes nothing' {
            Set-ItemProperty 'GP:\CurrentControlSet\Services\gfsbad' -Name Start -Value 4 -WhatIf
            New-Item 'GP:\ControlSet001\Services\gfsnew' -WhatIf
            Remove-Item 'GP:\ControlSet002' -Recurse -WhatIf
            Get-ItemPropertyValue 'GP:\CurrentControlSet\Services\gfsbad' -Name Start | Should -Be 1
            Test-Path 'GP:\ControlSet001\Services\gfsnew' | Should -BeFalse
            Test-Path 'GP:\ControlSet002' | Should -BeTrue
        }

        It 'sets, creates, removes and renames; the drive sees the changes, the hive file is untouched until the drive goes' {
            Set-ItemProperty 'GP:\CurrentControlSet\Services\gfsbad' -Name Start -Value 4
            Set-ItemProperty 'GP:\CurrentControlSet\Services\gfsbad' -Name ImagePath -Value 'System32\drivers\other.sys'
            New-Item 'GP:\ControlSet001\Services\gfsnew' | Should -Not -BeNullOrEmpty
            New-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Start -PropertyType DWord -Value 3 | Out-Null
            New-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Big -PropertyType QWord -Value 5000000000 | Out-Null
            New-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Groups -PropertyType MultiString -Value @('a', 'b') | Out-Null
            New-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Path -PropertyType ExpandString -Value '%SystemRoot%\x' | Out-Null
            New-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Raw -PropertyType Binary -Value ([byte[]](9, 8)) | Out-Null
            Set-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Text -Value 'plain'
            { New-ItemProperty 'GP:\ControlSet001\Services\gfsnew' -Name Start -Value 1 -ErrorAction Stop } | Should -Throw '*already exists*'
            Remove-ItemProperty 'GP:\ControlSet001\Services\gfsbad' -Name Blob
            Rename-ItemProperty 'GP:\ControlSet001\Services\gfsbad' -Name Tag -NewName Tag2
            Remove-Item 'GP:\ControlSet002' -Recurse

            $p = Get-ItemProperty 'GP:\CurrentControlSet\Services\gfsbad'
            $p.Start | Should -Be 4
            $p.Start | Should -BeOfType ([int]) -Because 'an existing DWord stays a DWord'
            $p.PSObject.Properties.Name | Should -Not -Contain 'Blob'
            $p.Tag2 | Should -Be 0x0102030405060708
            $p.DependOnService | Should -Be @('FltMgr', 'Tcpip') -Because 'the rebuilt key keeps its other values'
            (Get-Item 'GP:\ControlSet001\Services\gfsnew').GetValueKind('Path') | Should -Be 'ExpandString'
            Test-Path 'GP:\ControlSet002' | Should -BeFalse
            (Get-GuestFileHash -Disk $pd -Path /Windows/System32/config/SYSTEM).Hash | Should -Be $origHash
            @(Get-GuestChildItem -Disk $pd -Path /Windows/System32/config | Where-Object Name -like '*.guestfs-edit*').Name | Should -Be 'SYSTEM.guestfs-edit'
        }

        It 'Remove-PSDrive commits: the hive is replaced, no copy is left' {
            Remove-PSDrive GP
            $script:committedHash = (Get-GuestFileHash -Disk $pd -Path /Windows/System32/config/SYSTEM).Hash
            $committedHash | Should -Not -Be $origHash
            @(Get-GuestChildItem -Disk $pd -Path /Windows/System32/config | Where-Object Name -like '*.guestfs-edit*') | Should -BeNullOrEmpty
        }

        It 'Close-GuestDisk commits what its drives changed and removes them' {
            New-PSDrive -Name GQ -PSProvider GuestRegistry -Root 'HKLM\SYSTEM\ControlSet001\Services' -Disk $pd | Out-Null
            Set-ItemProperty GQ:\gfsnew -Name AfterClose -Value 1
            (Get-GuestFileHash -Disk $pd -Path /Windows/System32/config/SYSTEM).Hash | Should -Be $committedHash
            Close-GuestDisk -Disk $pd
            Get-PSDrive GQ -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        }

        It 'virt-win-reg reads the changes back' {
            $after = ConvertFrom-RegText (Invoke-VirtWinReg @($copyDrive, 'HKLM\SYSTEM'))
            $s = 'HKEY_LOCAL_MACHINE\SYSTEM\CONTROLSET001\SERVICES'
            $after.Values["$s\GFSBAD|START"] | Should -Be '4:04000000'
            $after.Values["$s\GFSBAD|IMAGEPATH"] | Should -Be "2:$([Convert]::ToHexString([Text.Encoding]::Unicode.GetBytes("System32\drivers\other.sys`0")))" -Because 'Set-ItemProperty without -Type keeps the ExpandString type'
            $after.Values.Keys | Should -Not -Contain "$s\GFSBAD|BLOB"
            $after.Values["$s\GFSBAD|TAG2"] | Should -Be '11:0807060504030201'
            $after.Values["$s\GFSBAD|DEPENDONSERVICE"] | Should -Not -BeNullOrEmpty
            $after.Values["$s\GFSNEW|START"] | Should -Be '4:03000000'
            $after.Values["$s\GFSNEW|BIG"] | Should -Be "11:$([Convert]::ToHexString([BitConverter]::GetBytes([long]5000000000)))"
            $after.Values["$s\GFSNEW|GROUPS"] | Should -Be '7:61000000620000000000'
            $after.Values["$s\GFSNEW|RAW"] | Should -Be '3:0908'
            $after.Values["$s\GFSNEW|AFTERCLOSE"] | Should -Be '4:01000000' -Because 'Close-GuestDisk committed it'
            $after.Values["$s\GFSNEW|TEXT"] | Should -Be "1:$([Convert]::ToHexString([Text.Encoding]::Unicode.GetBytes("plain`0")))"
            $after.Keys | Should -Not -Contain 'HKEY_LOCAL_MACHINE\SYSTEM\CONTROLSET002'
            $after.Keys | Should -Contain 'HKEY_LOCAL_MACHINE\SYSTEM\SELECT'
        }
    }
}
